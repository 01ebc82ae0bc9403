"""Root-key operations: make a new root key file, re-wrap everything under the current root key,
and show which root key wraps how many values. See keys/root_key_rotation.py and the "Root key
rotation" section of docs/deployment.md for the operator flow.

    kms_root_key generate PATH                  a new key file, mode 0600 (never overwrites)
    kms_root_key rotate --new-key-file PATH     re-wrap under the configured current key, which
                                                must be the key in PATH; exit 1 if unfinished
    kms_root_key status                         counts per root key; exit 1 while any value is
                                                not under the current key
"""

import sys

from django.core.management.base import BaseCommand, CommandError

from keys.crypto.rootkey import RootKey, RootKeyError, create_root_key_file, load_root_key
from keys.root_key_rotation import (
    DEFAULT_BATCH_SIZE,
    FORMAT_1,
    UNREADABLE,
    ColumnCounts,
    RootKeyRotationRefused,
    root_key_rotate,
    root_key_status,
)
from keys.vault import root_key

EXIT_UNFINISHED = 1


def _counts(counts: ColumnCounts) -> str:
    return f"{counts.rewrapped} re-wrapped, {counts.skipped} skipped, {counts.failed} failed"


class Command(BaseCommand):
    help = "Root key rotation: generate a new root key file, rotate (re-wrap), status."

    def add_arguments(self, parser):
        actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
        generate = actions.add_parser("generate", help="write a new root key file, mode 0600")
        generate.add_argument("path", metavar="PATH", help="the file to create (must not exist)")
        rotate = actions.add_parser(
            "rotate", help="re-wrap every wrapped value under the current root key")
        rotate.add_argument("--new-key-file", required=True, metavar="PATH",
                            help="the new root key; must be the configured current root key")
        rotate.add_argument("--batch-size", type=int, default=DEFAULT_BATCH_SIZE, metavar="N",
                            help=f"rows per transaction (default {DEFAULT_BATCH_SIZE})")
        actions.add_parser("status", help="how many wrapped values each root key wraps")

    def handle(self, *args, action: str, **options):
        try:
            if action == "generate":
                self._generate(options["path"])
            elif action == "rotate":
                self._rotate(options["new_key_file"], options["batch_size"])
            else:
                self._status()
        except (RootKeyError, RootKeyRotationRefused) as error:
            # Messages name files and fingerprints, never a key.
            raise CommandError(str(error)) from None

    def _generate(self, path: str) -> None:
        key = RootKey(create_root_key_file(path))
        self.stdout.write(self.style.SUCCESS(
            f"Wrote a new root key to {path} (mode 0600), fingerprint {key.fingerprint}.\n"
            f"Next: set KMS_ROOT_KEY_FILE={path} and KMS_PREVIOUS_ROOT_KEY_FILE to the current "
            "root key file, restart web, worker and beat, then run "
            f"`kms_root_key rotate --new-key-file {path}`."))

    def _rotate(self, new_key_file: str, batch_size: int) -> None:
        if batch_size < 1:
            raise CommandError("--batch-size must be at least 1.")
        new_key = RootKey(load_root_key(key_b64=None, key_file=new_key_file,
                                        create_file_if_missing=False))
        ring = root_key()
        previous = ", ".join(key.fingerprint for key in ring.previous) or "none"
        self.stdout.write(f"Re-wrapping under root key {ring.fingerprint} "
                          f"(previous root key: {previous}).")

        def progress(label: str, counts: ColumnCounts) -> None:
            self.stdout.write(f"  {label}: {_counts(counts)} so far")

        try:
            result = root_key_rotate(expected_fingerprint=new_key.fingerprint,
                                     batch_size=batch_size, progress=progress)
        except KeyboardInterrupt:
            raise CommandError("Interrupted. Committed batches stay re-wrapped; run rotate "
                               "again to finish.") from None
        for label, counts in result.tally.by_column().items():
            self.stdout.write(f"{label}: {_counts(counts)}")
        total = result.total()
        if result.finished:
            self.stdout.write(self.style.SUCCESS(
                f"Done: {total.rewrapped} value(s) re-wrapped, {total.skipped} already under "
                f"root key {result.fingerprint}. Check `kms_root_key status`, then remove the "
                "previous root key from the configuration and restart."))
            return
        if result.interruption:
            self.stderr.write(self.style.ERROR(
                f"Interrupted ({result.interruption}) after re-wrapping {total.rewrapped} "
                "value(s). Committed batches stay re-wrapped; run rotate again to finish."))
        else:
            failures = "; ".join(result.tally.failures)
            self.stderr.write(self.style.ERROR(
                f"Not finished: {total.failed} value(s) could not be unwrapped with any "
                f"configured root key ({failures}). Keep the previous root key configured."))
        sys.exit(EXIT_UNFINISHED)

    def _status(self) -> None:
        ring = root_key()
        names = {ring.fingerprint: f"under the current root key {ring.fingerprint}",
                 FORMAT_1: "in format 1 (written before values named their root key)",
                 UNREADABLE: "unreadable (not a wrapped value)"}
        names.update({key.fingerprint: f"under the previous root key {key.fingerprint}"
                      for key in ring.previous})
        self.stdout.write(f"Current root key: {ring.fingerprint}. Previous root key: "
                          f"{', '.join(key.fingerprint for key in ring.previous) or 'none'}.")
        current = pending = 0
        for label, found in root_key_status().items():
            parts = [f"{count} {names.get(key) or _unconfigured(key)}"
                     for key, count in sorted(found.items())]
            self.stdout.write(f"{label}: {', '.join(parts) or 'none'}")
            current += found.get(ring.fingerprint, 0)
            pending += sum(found.values()) - found.get(ring.fingerprint, 0)
        if pending:
            self.stderr.write(self.style.WARNING(
                f"{pending} wrapped value(s) are not under the current root key yet (and "
                f"{current} are): run `kms_root_key rotate`. Keep the previous root key."))
            sys.exit(EXIT_UNFINISHED)
        self.stdout.write(self.style.SUCCESS(
            f"All {current} wrapped value(s) are under the current root key "
            f"{ring.fingerprint}: no value needs the previous root key any more."))


def _unconfigured(fingerprint: str) -> str:
    return f"under root key {fingerprint}, which is NOT CONFIGURED (they cannot be unwrapped)"
