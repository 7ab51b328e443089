from django.core.management.base import BaseCommand, CommandError

from tallying import mirrors


class Command(BaseCommand):
    help = (
        "Build the signed mirror bundle now (in MIRROR_BUILD_DIR/bundle) and push it to every target of "
        "MIRROR_TARGETS, or only to --target NAME. What the beat task does after each publication."
    )

    def add_arguments(self, parser):
        parser.add_argument("--target", action="append", metavar="NAME", help="push only to this target")
        parser.add_argument("--no-push", action="store_true", help="build only")

    def handle(self, target=None, no_push=False, **options):
        with mirrors.mirror_lock() as held:
            if not held:
                raise CommandError("another build or push holds the mirror lock; try again in a moment")
            mirrors.build_bundle()
        self.stdout.write(f"built {mirrors.bundle_dir()}")
        if no_push:
            return
        names = target or [t.name for t in mirrors.targets()]
        for name in names:
            try:
                mirrors.push_target(name)
            except Exception as error:  # noqa: BLE001 — report each target, push the others
                self.stderr.write(f"FAIL push to {name}: {type(error).__name__}: {error}")
                continue
            self.stdout.write(f"pushed to {name}")
