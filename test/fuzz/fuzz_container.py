"""Coverage-guided fuzzing of the DSCC container parser, ``dsc_core.container.unpack`` (atheris).

    nice -n 19 env PYTHONPATH=. .venv/bin/python test/fuzz/fuzz_container.py --corpus out/fuzz/container/corpus \
        [--reseal] -- -runs=1000000

Seeds: real left, right and paper-right codes of small Motorcycle crops, encoded at start-up into the corpus
folder. With ``--reseal`` the CRC is recomputed after every mutation, so the fuzzer gets past the CRC to
the field checks (without it, almost every mutation stops at the CRC, which is the point of the CRC).

Properties (see _common.py for the time and memory ones):
* ``unpack`` returns or raises a ``DSCError`` subclass; nothing else;
* an accepted code re-packs to the same bytes (``container.pack(*unpack(data)) == data``), its fields are in
  the documented ranges and its payloads add up to the code's size;
* ``parse`` agrees with ``unpack`` and ``Header.describe()`` works.
"""

from __future__ import annotations

import sys

import atheris

import _common as C

with atheris.instrument_imports(include=["dsc_core.container", "dsc_core.errors"]):
    from dsc_core import container
    from dsc_core.errors import DSCError


def make_target(reseal: bool, outcomes=None):
    """``outcomes`` (a Counter) gets "accepted" or the first words of the refusal, per input."""
    import collections

    outcomes = collections.Counter() if outcomes is None else outcomes

    def target(data: bytes) -> None:
        if reseal:
            data = C.reseal(data)
        try:
            hdr, payloads = container.unpack(data)
        except DSCError as e:
            outcomes[" ".join(str(e).split()[:2])] += 1
            return
        outcomes["accepted"] += 1
        # accepted: it must be exactly what pack() writes, with every field in range
        again = container.pack(hdr, payloads)
        if again != data:
            raise AssertionError(f"accepted code does not re-pack to itself ({len(again)} vs {len(data)} bytes)")
        if not (1 <= hdr.height <= container.MAX_SIDE and 1 <= hdr.width <= container.MAX_SIDE):
            raise AssertionError(f"accepted size {hdr.width}x{hdr.height}")
        if hdr.role not in container.ROLE_IDS or hdr.encoding not in container.ENCODING_IDS:
            raise AssertionError(f"accepted role/encoding {hdr.role}/{hdr.encoding}")
        if not 1 <= len(hdr.strings) <= container.MAX_STRINGS or len(payloads) != len(hdr.strings):
            raise AssertionError("string table and payloads disagree")
        if hdr.payload_size + container.HEADER_SIZE + 14 * len(hdr.strings) + 4 != len(data):
            raise AssertionError("payload sizes do not add up to the code's length")
        if container.parse(data) != hdr:
            raise AssertionError("parse() and unpack() disagree")
        hdr.describe()

    return target


def main(argv=None) -> None:
    args, lib = C.parse_args(list(argv or sys.argv), __doc__.split("\n\n")[0])
    seeds = C.seed_codes()
    C.write_corpus(args.corpus, seeds)
    guard = C.Guard(args.timeout_s, args.wall_s, args.rss_delta_mb, args.artifacts)
    import collections

    outcomes = collections.Counter()
    guard.extra = lambda: "outcomes " + ", ".join(f"{k!r}={v}" for k, v in outcomes.most_common(8))
    target = guard(make_target(args.reseal, outcomes))
    mutator = (
        C.header_aware_mutator(args.max_side, args.size_mutations, args.payload_mutations)
        if args.size_mutations + args.payload_mutations > 0
        else None
    )
    print(f"[fuzz_container] {len(seeds)} seeds in {args.corpus}; reseal={args.reseal}", file=sys.stderr, flush=True)
    atheris.Setup(lib, target, custom_mutator=mutator)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
