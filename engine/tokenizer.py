"""Byte-level BPE tokenizer (HF `tokenizers`) with ChatML special tokens and chat template.

Digits are split one per token before BPE, so arithmetic stays learnable at small vocabularies.
Owns training, saving/loading tokenizer.json, encoding pretrain text and chat turns (with the
assistant-only loss mask). Text is encoded with control tokens read as plain characters: only the chat template
(and pretrain text whose source opts in) puts real <|im_start|>/<|im_end|> ids in. Knows nothing about models.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from tokenizers import Tokenizer as HFTokenizer
from tokenizers import decoders, models, pre_tokenizers, trainers

from engine.errors import UserError

EOT = "<|endoftext|>"
IM_START = "<|im_start|>"
IM_END = "<|im_end|>"
PAD = "<|pad|>"
SPECIAL_TOKENS = [EOT, IM_START, IM_END, PAD] + [f"<|reserved_{i}|>" for i in range(4)]
# The Rust encoder keeps ~150 bytes per character of one text while encoding it (a 50 MB line peaked over 7 GB), so
# a long text is encoded as segments of at most SEGMENT_CHARS, cut before whitespace, at most BATCH_CHARS at a time.
SEGMENT_CHARS = 1 << 16
BATCH_CHARS = 1 << 20

# The chat template in Jinja form (for exported Hugging Face folders); `render_chat` below is the same thing in Python.
CHAT_TEMPLATE = (
    "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' }}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)


class Tokenizer:
    """A thin wrapper over a HF `tokenizers.Tokenizer` that knows our special tokens and chat template."""

    def __init__(self, hf: HFTokenizer):
        self.hf = hf  # reads "<|im_end|>" in text as the control token: only for text that may hold them
        # A twin that reads every special-token string as ordinary characters, so message content and user text can
        # never forge a turn; the template adds the real control ids around it.
        self._plain = HFTokenizer.from_str(hf.to_str())
        self._plain.encode_special_tokens = True
        missing = [t for t in (EOT, IM_START, IM_END) if hf.token_to_id(t) is None]
        if missing:
            raise UserError(f"tokenizer lacks the special tokens {', '.join(missing)}",
                            "train a tokenizer with `minigpt tokenizer train`, which adds them", kind="tokenizer")
        self.eot_id = hf.token_to_id(EOT)
        self.im_start_id = hf.token_to_id(IM_START)
        self.im_end_id = hf.token_to_id(IM_END)
        self.pad_id = hf.token_to_id(PAD) if hf.token_to_id(PAD) is not None else self.eot_id
        self._headers: dict[str, list[int]] = {}
        self._newline = self.encode("\n")

    # ---- files
    @classmethod
    def load(cls, path: str | Path) -> Tokenizer:
        path = Path(path)
        file = path / "tokenizer.json" if path.is_dir() else path
        if not file.exists() and file.is_symlink() or not path.exists() and path.is_symlink():
            from engine.data.formats import broken_link_reason
            link = path if path.is_symlink() and not path.exists() else file
            raise UserError(broken_link_reason(str(link)), "fix or remove the link", kind="tokenizer")
        if not file.is_file():
            raise UserError(f"{file}: tokenizer.json not found", "point at a folder with tokenizer.json, or leave "
                            "tokenizer.path empty to train one", kind="tokenizer")
        try:
            return cls(HFTokenizer.from_file(str(file)))
        except UserError:
            raise
        except Exception as e:  # the Rust side raises plain Exceptions for malformed files
            raise UserError(f"{file}: not a valid tokenizer.json ({e})", "re-create it with `minigpt tokenizer train`",
                            kind="tokenizer") from None

    def save(self, folder: str | Path) -> Path:
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        out = folder / "tokenizer.json"
        tmp = folder / f".tokenizer.json.tmp-{os.getpid()}-{threading.get_ident()}"
        self.hf.save(str(tmp))
        tmp.replace(out)
        return out

    def to_json(self) -> str:
        return self.hf.to_str()

    # ---- sizes and ids
    @property
    def vocab_size(self) -> int:
        return self.hf.get_vocab_size()

    def encode(self, text: str) -> list[int]:
        """Text -> ids, with "<|im_start|>" and the other control strings encoded as the characters they are."""
        return self.encode_batch([text])[0]

    def encode_batch(self, texts: list[str], control_tokens: bool = False) -> list[list[int]]:
        """encode() for many texts in parallel; `control_tokens` reads control strings as control ids."""
        hf = self.hf if control_tokens else self._plain
        fits = [t for t in texts if len(t) <= SEGMENT_CHARS]
        short = [e.ids for e in hf.encode_batch(fits, add_special_tokens=False)]
        if len(short) == len(texts):
            return short
        encoded = iter(short)
        return [next(encoded) if len(t) <= SEGMENT_CHARS else [i for part in self.iter_encoded(t, control_tokens)
                                                               for i in part] for t in texts]

    def iter_encoded(self, text: str, control_tokens: bool = False,
                     on_chars: Callable[[int], None] | None = None) -> Iterator[list[int]]:
        """The ids of `text` in consecutive parts, holding at most about BATCH_CHARS of it in the encoder at once.
        `on_chars(n)` hears how many characters of `text` are encoded so far, after each batch (a long line's
        progress)."""
        hf = self.hf if control_tokens else self._plain
        group: list[str] = []
        size = done = 0
        for segment in split_long(text):
            group.append(segment)
            size += len(segment)
            if size >= BATCH_CHARS:
                yield from (e.ids for e in hf.encode_batch(group, add_special_tokens=False))
                done += size
                if on_chars is not None:
                    on_chars(done)
                group, size = [], 0
        if group:
            yield from (e.ids for e in hf.encode_batch(group, add_special_tokens=False))
            if on_chars is not None:
                on_chars(done + size)

    def encode_control(self, text: str) -> list[int]:
        """Text that may hold control tokens on purpose (opted-in pretrain data): "<|im_end|>" becomes its id."""
        return self.encode_batch([text], control_tokens=True)[0]

    def decode(self, ids: Iterable[int], skip_special: bool = False) -> str:
        return self.hf.decode(list(ids), skip_special_tokens=skip_special)

    def token_pieces(self, text: str) -> list[dict]:
        """How `text` splits into tokens, as [{"text", "ids"}] pieces whose texts join back to exactly `text`.

        Byte-level BPE can split one character (e.g. a Chinese one) over several tokens, each of which holds only
        some of its bytes; such tokens are shown as one piece carrying all their ids, so no character repeats.
        """
        enc = self._plain.encode(text, add_special_tokens=False)
        pieces: list[dict] = []
        end = 0  # text shown so far
        for token_id, (_, b) in zip(enc.ids, enc.offsets, strict=True):
            if b <= end and pieces:
                pieces[-1]["ids"].append(token_id)  # more bytes of a character already shown
                continue
            pieces.append({"text": text[end:b], "ids": [token_id]})  # from `end`: a gap joins the next piece
            end = max(end, b)
        if pieces and end < len(text):
            pieces[-1]["text"] += text[end:]
        return pieces

    def token_strings(self, text: str) -> list[str]:
        """The texts of token_pieces(text)."""
        return [piece["text"] for piece in self.token_pieces(text)]

    # ---- documents and chats
    def encode_document(self, text: str, control_tokens: bool = False) -> list[int]:
        """Pretrain text -> ids ending in <|endoftext|>.

        With `control_tokens` (a source that embeds ChatML turns on purpose, as minimind's pretrain files and the
        built-in corpus do) "<|im_start|>" etc. become control ids, and text made of turns gets no <|endoftext|>.
        """
        return self.encode_batch([text], control_tokens)[0] + self.document_end(text, control_tokens)

    def document_end(self, text: str, control_tokens: bool = False) -> list[int]:
        """What follows a pretrain document's ids: <|endoftext|>, unless it is made of real ChatML turns."""
        return [] if control_tokens and IM_END in text else [self.eot_id]

    def encode_chat(self, messages: list[dict], add_generation_prompt: bool = False,
                    bodies: list[list[int]] | None = None) -> tuple[list[int], list[int]]:
        """ChatML-encode a conversation. Returns (ids, mask) where mask is 1 on tokens that carry loss:
        every assistant reply and its <|im_end|>, nothing else (not the role header, not the user).
        `bodies` may carry the contents already encoded (see encode_chats)."""
        ids: list[int] = []
        mask: list[int] = []
        for i, m in enumerate(messages):
            header = self._header(m["role"])
            body = bodies[i] if bodies is not None else self.encode(m["content"])
            on = 1 if m["role"] == "assistant" else 0
            ids += [self.im_start_id] + header + body + [self.im_end_id] + self._newline
            mask += [0] * (1 + len(header)) + [on] * (len(body) + 1) + [0]
        if add_generation_prompt:
            gen = [self.im_start_id] + self._header("assistant")
            ids += gen
            mask += [0] * len(gen)
        return ids, mask

    def encode_chats(self, conversations: list[list[dict]]) -> list[tuple[list[int], list[int]]]:
        """encode_chat for many conversations, with every message encoded in one parallel batch."""
        contents = [m["content"] for conv in conversations for m in conv]
        encoded = self.encode_batch(contents)
        out, k = [], 0
        for conv in conversations:
            out.append(self.encode_chat(conv, bodies=encoded[k:k + len(conv)]))
            k += len(conv)
        return out

    def _header(self, role: str) -> list[int]:
        cached = self._headers.get(role)
        if cached is None:
            cached = self._headers[role] = self.encode(f"{role}\n")
        return cached

    def render_chat(self, messages: list[dict], add_generation_prompt: bool = False) -> str:
        text = "".join(f"{IM_START}{m['role']}\n{m['content']}{IM_END}\n" for m in messages)
        return text + (f"{IM_START}assistant\n" if add_generation_prompt else "")


def split_long(text: str, limit: int = SEGMENT_CHARS) -> Iterator[str]:
    """`text` in segments of at most `limit` characters that join back to it, each cut just before whitespace when
    there is some in the window's second half (where byte-level BPE splits anyway), never inside a "<|...|>" token."""
    start = 0
    while len(text) - start > limit:
        cut = start + limit
        space = max(text.rfind(" ", start + limit // 2, cut), text.rfind("\n", start + limit // 2, cut))
        if space > start:
            cut = space
        else:  # no whitespace: do not cut a control-token string in two
            opener = text.rfind("<|", cut - 16, cut)
            if opener > start and text.find("|>", opener, cut) < 0:
                cut = opener
        yield text[start:cut]
        start = cut
    yield text[start:]


def build_untrained() -> HFTokenizer:
    """A byte-level BPE whose pre-tokenizer first isolates each digit, then applies GPT-2's byte-level split."""
    tok = HFTokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Digits(individual_digits=True),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True),
    ])
    tok.decoder = decoders.ByteLevel()
    return tok


def train_tokenizer(texts: Iterable[str], vocab_size: int, min_frequency: int = 2,
                    progress: Callable[[int], None] | None = None) -> Tokenizer:
    """Train on an iterator of strings. `progress(n_texts_read)` is called now and then while reading."""
    tok = build_untrained()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size, min_frequency=min_frequency, special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False,
    )

    def counted(it: Iterable[str]) -> Iterator[str]:
        for i, t in enumerate(it, 1):
            if progress and i % 2000 == 0:
                progress(i)
            yield t

    tok.train_from_iterator(counted(texts), trainer=trainer)
    return Tokenizer(tok)


def vocab_shortfall(got: int, asked: int, key: str) -> str:
    """Why a trained vocabulary is smaller than asked: BPE stops when no pair of tokens repeats any more."""
    return (f"{key} {asked:,} asked, but the data only supports {got:,} tokens (every pair that repeats "
            f"min_frequency times is merged); the tokenizer has {got:,}. Add data, or ask for {got:,} or fewer")


def tokenizer_fingerprint(tok: Tokenizer) -> str:
    """A stable hash of the tokenizer's full definition (vocab, merges, specials)."""
    import hashlib
    return hashlib.sha256(json.dumps(json.loads(tok.to_json()), sort_keys=True).encode()).hexdigest()[:16]
