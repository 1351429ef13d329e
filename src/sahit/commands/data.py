"""``sahit data pack``: prepare data sets (pack a folder of images into one zip that trains like the folder)."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``data`` (with its action ``pack``) to the ``sahit`` parser."""
    p = subparsers.add_parser("data", help="prepare data sets (pack a folder of images into one zip)")
    sub = p.add_subparsers(dest="data_command", metavar="ACTION", required=True)
    pack = sub.add_parser(
        "pack",
        help="pack a folder of images into a zip that trains like the folder (--data OUT.zip)",
        description="Write the good images of SRC (class subfolders or loose images), unchanged and in the "
        "order training reads them, into OUT.zip with a dataset.json of labels (StyleGAN's dataset_tool "
        "layout). Training reads the zip in place; --data OUT.zip trains exactly as --data SRC.",
    )
    pack.add_argument("src", help="folder of images: SRC/<class>/*.png or SRC/*.png")
    pack.add_argument("out", help="zip file to write (must not exist)")
    pack.add_argument("--strict", action="store_true", help="refuse bad image files instead of skipping them")


def run(args: argparse.Namespace) -> int:
    """Run the action given (``pack``, the only one)."""
    return {"pack": _pack}[args.data_command](args)


def _pack(args: argparse.Namespace) -> int:
    from ..data.pack import pack_folder

    s = pack_folder(args.src, args.out, strict=args.strict)
    skipped = f", skipped {s['skipped']} bad file(s)" if s["skipped"] else ""
    print(f"packed {s['images']} images ({s['classes']} classes{skipped}) into {s['out']} "
          f"({s['bytes'] / 1e6:.1f} MB)")
    return 0
