"""The console's figures move only with publications: an organizer who watches a small batch
must not see its voters one by one (their "used" count), nor counts that move by fewer than K."""

import re

import pytest

from ballots.services import OPERATOR, cast_ballot, issue_codes
from tallying.services import seal_poll
from tests.console import make_organizer, verified_client
from tests.factories import make_poll

K = 4


def used_cell(html, batch_id):
    row = re.search(rf"#{batch_id}</a>.*?</tr>", html, re.S).group(0)
    return [int(n) for n in re.findall(r'<td class="num">(\d+)</td>', row)]


@pytest.mark.django_db
def test_batch_used_and_poll_figures_move_only_with_publications(settings):
    settings.PUBLISH_MIN_BALLOTS = K
    poll = make_poll()
    organizer, device = make_organizer("olga", role="regional", region_slugs=[poll.region.slug])
    client = verified_client(organizer, device)
    small, small_codes = issue_codes(poll, 3, actor=OPERATOR)
    large, large_codes = issue_codes(poll, 10, actor=OPERATOR)
    yes = poll.options.first().id

    cast_ballot(poll.id, small_codes[0], yes)  # one voter of the small batch
    html = client.get(f"/console/polls/{poll.id}/").content.decode()
    assert used_cell(html, small.id) == [3, 0]  # issued 3, used 0: not shown live
    assert re.search(r'stat-value">1</span><span class="stat-label">ballots received', html)
    assert re.search(r'stat-value">0</span><span class="stat-label">ballots counted', html)

    for code in large_codes[:3]:
        cast_ballot(poll.id, code, yes)
    assert seal_poll(poll.id) == 4  # K reached: the publication covers all four
    html = client.get(f"/console/polls/{poll.id}/").content.decode()
    assert used_cell(html, small.id) == [3, 1] and used_cell(html, large.id) == [10, 3]
    assert re.search(r'stat-value">4</span><span class="stat-label">ballots counted', html)

    cast_ballot(poll.id, small_codes[1], yes)
    assert seal_poll(poll.id) == 0  # 1 < K waits
    html = client.get(f"/console/polls/{poll.id}/").content.decode()
    assert used_cell(html, small.id) == [3, 1]
    home = client.get("/console/").content.decode()
    assert re.search(r'<td class="num">5</td>\s*<td class="num">4</td>\s*<td class="num">4 / 13</td>', home), home
