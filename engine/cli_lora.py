"""`minigpt lora merge ADAPTER_CKPT --out DIR`: the parser and handler (the work is engine/lora_checkpoint.py's).

Merging is optional: chat, eval, serve, generate and export merge an adapter checkpoint when they load it. A merged
folder stands alone, so it survives the base checkpoint being deleted and loads without hashing the base.
"""

from __future__ import annotations


def add_lora_parser(sub) -> None:
    lo = sub.add_parser("lora", help="LoRA adapter tools").add_subparsers(dest="lora_command", required=True)
    m = lo.add_parser("merge", help="merge a LoRA adapter checkpoint into its base: a full, self-contained checkpoint")
    m.add_argument("checkpoint", help="the adapter checkpoint (step folder or run folder)")
    m.add_argument("--out", required=True, help="folder to create (must be new or empty)")


def cmd_lora(args, sink=None) -> int:
    from engine.lora_checkpoint import merge_checkpoint
    out = merge_checkpoint(args.checkpoint, args.out)
    print(f"merged {args.checkpoint} into {out}")
    return 0
