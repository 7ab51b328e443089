from django.core.management.base import BaseCommand, CommandError

from tallying import mirror_check


class Command(BaseCommand):
    help = (
        "Check a signed mirror (a folder or URL holding manifest.json): the manifest's signature, every "
        "file's SHA-256, and that its newest statement is not older than --reference's or --max-age. "
        "The same as `python -m tallying.mirror_check`, which observers run without Django."
    )

    def add_arguments(self, parser):
        parser.add_argument("mirror")
        parser.add_argument("--public-key", action="append", metavar="HEX",
                            help="a key you trust (repeatable; default: this server's signing key)")
        parser.add_argument("--reference", metavar="ORIGIN_OR_MIRROR")
        parser.add_argument("--max-age", type=float, metavar="SECONDS")
        parser.add_argument("--verify-exports", action="store_true")

    def handle(self, mirror, public_key=None, reference=None, max_age=None, verify_exports=False, **options):
        from tallying import signing

        keys = public_key or [signing.public_key_hex()]
        try:
            summary = mirror_check.check_mirror(mirror, keys, reference, max_age, verify_exports,
                                                warn=self.stderr.write)
        except mirror_check.MirrorProblem as problem:
            raise CommandError(f"FAIL {mirror}: {problem}") from None
        self.stdout.write(mirror_check.describe(mirror, summary))
