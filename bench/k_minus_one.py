"""The K−1 attack, measured (issue 17; docs/threat-model.md, "The K−1 attack").

A state holds K−1 voting codes of its own and watches one voter (the target) connect. Right after
the target's ballot is accepted (the live "received" count moves), it casts its K−1 ballots, all
for one answer, so that the next publication is the target's ballot plus its own, plus whatever
honest ballots happen to wait. From the published counts it names the target's answer.

The publication rule is the real one (tallying/pool.py: a publication once K + H wait, H of the
waiting ballots held back uniformly at random). The attacker is the best one: it knows K, H, how
many honest ballots wait, and the honest voters' answer distribution, and picks the answer with
the higher posterior probability given the published counts (exact enumeration). It is "certain"
when the counts leave only one answer possible.

    .venv/bin/python bench/k_minus_one.py [--trials 20000] [--k 100] [--no-share 0.3]

Prints, for H = 0 (before) and H = K/2 (after) and for 0 to W honest ballots waiting, how often the
attacker is certain, and how often its best guess is right, against the baseline of always
guessing the majority answer.
"""

import argparse
import random
import sys
from functools import cache
from math import comb
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tallying import pool  # noqa: E402

YES, NO, ATTACKER = "yes", "no", "attacker"


def publish_once(k, hold, waiting_honest, held_honest, target, rng):
    """What the attacker sees: the number of No among the published ballots, and how many were
    published. The pool holds `held_honest` honest ballots from before (unknown answers)."""
    ballots = waiting_honest + held_honest + [target] + [ATTACKER] * (k - 1)
    assert pool.ready(len(ballots), k, hold)
    published, _held = pool.split(ballots, k, hold, shuffle=rng.shuffle)
    return sum(1 for b in published if b == NO), len(published)


@cache
def likelihood(no_seen, published, honest, total, target_no, p_no):
    """P(no_seen No among `published` of `total` ballots | the target's answer), where `honest`
    ballots answer No with probability p_no and the K−1 attacker ballots say Yes."""
    others = total - honest - 1
    result = 0.0
    for target_in in (0, 1):
        for honest_in in range(0, min(honest, published - target_in) + 1):
            attacker_in = published - target_in - honest_in
            if attacker_in < 0 or attacker_in > others:
                continue
            choose = comb(1, target_in) * comb(honest, honest_in) * comb(others, attacker_in) / comb(total, published)
            honest_no = no_seen - (target_in if target_no else 0)
            if not 0 <= honest_no <= honest_in:
                continue
            result += choose * comb(honest_in, honest_no) * p_no**honest_no * (1 - p_no) ** (honest_in - honest_no)
    return result


def attack(k, hold, honest_waiting, p_no, trials, rng):
    certain = right = 0
    for _ in range(trials):
        answer = lambda: NO if rng.random() < p_no else YES  # noqa: E731
        target = answer()
        waiting = [answer() for _ in range(honest_waiting)]
        held = [answer() for _ in range(hold)]
        no_seen, published = publish_once(k, hold, waiting, held, target, rng)
        total = honest_waiting + hold + 1 + (k - 1)
        honest = honest_waiting + hold
        if_no = p_no * likelihood(no_seen, published, honest, total, True, p_no)
        if_yes = (1 - p_no) * likelihood(no_seen, published, honest, total, False, p_no)
        guess = NO if if_no > if_yes else YES
        right += guess == target
        certain += (if_no == 0 or if_yes == 0) and guess == target
    return certain / trials, right / trials


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=20000)
    parser.add_argument("--k", type=int, default=100)
    parser.add_argument("--no-share", type=float, default=0.3, help="share of honest voters answering No")
    parser.add_argument("--seed", type=int, default=17)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    baseline = max(args.no_share, 1 - args.no_share)
    print(f"K = {args.k}, honest voters answer No with p = {args.no_share}, {args.trials} trials per row;"
          f" guessing the majority is right {baseline:.1%} of the time")
    print(f"{'H (held back)':>14} {'honest waiting':>15} {'certain':>9} {'best guess right':>17}")
    for hold in (0, args.k // 2):
        for honest_waiting in (0, 1, 5, 20):
            certain, right = attack(args.k, hold, honest_waiting, args.no_share, args.trials, rng)
            print(f"{hold:>14} {honest_waiting:>15} {certain:>9.1%} {right:>17.1%}")


if __name__ == "__main__":
    main()
