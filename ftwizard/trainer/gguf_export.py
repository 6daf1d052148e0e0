"""Write a run's model as one GGUF file for llama.cpp, Ollama and LM Studio, without llama.cpp.

python -m ftwizard.trainer.gguf_export RUN_DIR [--outtype f16|bf16|q8_0] [--out FILE] [--ollama]

The weights are the run's final model: an adapter is merged into its base first. The
file carries the tokenizer (its tokens, types, merges and the llama.cpp pre-tokenizer
name), the special tokens, ``add_bos`` and the chat template the run trained with, so
a GGUF answers like the model it came from. With ``--ollama`` the answer also carries
what a ``Modelfile`` needs (``core/outputs/ollama.py``): the chat template cut into the pieces
Ollama's Go template replays, and the stop tokens. The gguf package (from llama.cpp) gives
the writer, the tensor names and the q8_0 / bf16 encodings; this module maps each
Hugging Face tensor onto them for the families in ``ARCHITECTURES``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import gguf
import numpy as np
import torch

from ftwizard.core.errors import UserError
from ftwizard.core.outputs import ollama
from ftwizard.core.runs.folder import RunFolder
from ftwizard.core.trainer_calls import Exported, OllamaFacts
from ftwizard.trainer.components.reply import reply

OUTTYPES = {
    "f16": (gguf.GGMLQuantizationType.F16, gguf.LlamaFileType.MOSTLY_F16),
    "bf16": (gguf.GGMLQuantizationType.BF16, gguf.LlamaFileType.MOSTLY_BF16),
    "q8_0": (gguf.GGMLQuantizationType.Q8_0, gguf.LlamaFileType.MOSTLY_Q8_0),
}

# Hugging Face model_type -> GGUF architecture. llama.cpp's LLAMA graph rotates query and
# key pairs the original (interleaved) way, so their rows are reordered on the way out;
# QWEN2/QWEN3 rotate halves as transformers does.
ARCHITECTURES = {
    "llama": gguf.MODEL_ARCH.LLAMA,
    "mistral": gguf.MODEL_ARCH.LLAMA,
    "qwen2": gguf.MODEL_ARCH.QWEN2,
    "qwen3": gguf.MODEL_ARCH.QWEN3,
}
INTERLEAVED_ROPE = {gguf.MODEL_ARCH.LLAMA}

# llama.cpp names a BPE pre-tokenizer by the SHA-256 of the token ids of this text
# (``convert_hf_to_gguf_update.py``); the hashes of the tokenizers of the families above.
CHECK_TEXT = (
    "\n \n\n \n\n\n \t \t\t \t\n  \n   \n    \n     \n🚀 (normal) 😶\u200d🌫️ (multiple emojis "
    "concatenated) ✅ 🦙🦙 3 33 333 3333 33333 333333 3333333 33333333 3.3 3..3 3...3 "
    "កាន់តែពិសេសអាច😁 ?我想在apple工作1314151天～ ------======= нещо на Български "
    "''''''```````\"\"\"\"......!!!!!!?????? I've been 'told he's there, 'RE you sure? "
    "'M not sure I'll make it, 'D you like some tea? We'Ve a'lL"
)
PRE_TOKENIZERS = {
    "0ef9807a4087ebef797fc749390439009c3b9eda9ad1a097abbe738f486c01e5": "llama-bpe",
    "e636dc30a262dcc0d8c323492e32ae2b70728f4df7dfe9737d9f920a282b8aea": "qwen2",
    "855059429035d75a914d1eda9f10a876752e281a054a7a3d421ef0533e5b6249": "smollm",
}


@dataclass(frozen=True)
class Written:
    """A GGUF file this module wrote."""

    path: Path
    outtype: str
    size_bytes: int
    tensors: int
    architecture: str
    chat_template: bool

    def answer(self, ollama: OllamaFacts | None = None) -> Exported:
        """What the CLI is told (core/trainer_calls.Exported)."""
        return Exported(
            path=str(self.path),
            outtype=self.outtype,
            size_bytes=self.size_bytes,
            tensors=self.tensors,
            architecture=self.architecture,
            chat_template=self.chat_template,
            ollama=ollama,
        )


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def architecture_of(model_type: str) -> gguf.MODEL_ARCH:
    arch = ARCHITECTURES.get(model_type)
    if arch is None:
        raise UserError(
            f"Exporting a `{model_type}` model to GGUF is not supported yet; ftwizard writes "
            f"{', '.join(sorted(ARCHITECTURES))}.",
            hint="Merge it (`ftwizard merge RUN`) and convert the merged folder with "
            "llama.cpp's convert_hf_to_gguf.py.",
        )
    return arch


def pre_tokenizer(tokenizer: Any) -> str:
    """llama.cpp's name for the tokenizer's pre-tokenizer, from the hash of a test text."""
    ids = tokenizer.encode(CHECK_TEXT)
    digest = hashlib.sha256(str(ids).encode()).hexdigest()
    name = PRE_TOKENIZERS.get(digest)
    if name is None:
        raise UserError(
            "This tokenizer's pre-tokenizer is not one llama.cpp knows under a name ftwizard "
            f"has (hash {digest[:12]}...): a GGUF would split text differently.",
            hint="Merge the run (`ftwizard merge RUN`) and convert the folder with llama.cpp's "
            "convert_hf_to_gguf.py, which knows more tokenizers.",
        )
    return name


def interleave_rotary(weight: torch.Tensor, heads: int) -> torch.Tensor:
    """Reorder a query/key projection's rows from rotate-half to interleaved pairs.

    transformers pairs dimension ``i`` with ``i + d/2`` inside each head; llama.cpp's
    LLAMA graph pairs ``2i`` with ``2i + 1``. Row ``h*d + j*2 + k`` of the result is row
    ``h*d + k*d/2 + j`` of the input.
    """
    rows = weight.shape[0]
    head_dim = rows // heads
    return (
        weight.reshape(heads, 2, head_dim // 2, *weight.shape[1:])
        .transpose(1, 2)
        .reshape(weight.shape)
    )


def _tensor_data(
    name: str, weight: torch.Tensor, qtype: gguf.GGMLQuantizationType
) -> tuple[np.ndarray[Any, Any], gguf.GGMLQuantizationType]:
    data = weight.detach().to(torch.float32).cpu().numpy()
    if data.ndim == 1:  # norms and biases stay fp32, as llama.cpp keeps them
        return data, gguf.GGMLQuantizationType.F32
    if qtype == gguf.GGMLQuantizationType.F16:
        return data.astype(np.float16), qtype
    block = gguf.GGML_QUANT_SIZES[qtype][0]
    if data.shape[-1] % block:  # rows that do not split into blocks stay f16
        return data.astype(np.float16), gguf.GGMLQuantizationType.F16
    return gguf.quants.quantize(data, qtype), qtype


def write_gguf(model: Any, tokenizer: Any, path: Path, outtype: str, name: str) -> Written:
    """Write ``model`` (a transformers causal LM) and ``tokenizer`` to ``path``."""
    config = model.config.get_text_config()
    arch = architecture_of(config.model_type)
    qtype, file_type = OUTTYPES[outtype]
    heads, kv_heads = config.num_attention_heads, config.num_key_value_heads
    head_dim = getattr(config, "head_dim", None) or config.hidden_size // heads
    tied = bool(getattr(config, "tie_word_embeddings", False))

    work = path.with_name(path.name + ".partial")
    writer = gguf.GGUFWriter(str(work), gguf.MODEL_ARCH_NAMES[arch])
    writer.add_type(gguf.GGUFType.MODEL)
    writer.add_name(name)
    writer.add_context_length(config.max_position_embeddings)
    writer.add_embedding_length(config.hidden_size)
    writer.add_block_count(config.num_hidden_layers)
    writer.add_feed_forward_length(config.intermediate_size)
    writer.add_head_count(heads)
    writer.add_head_count_kv(kv_heads)
    writer.add_rope_freq_base(_rope_theta(config))
    writer.add_layer_norm_rms_eps(config.rms_norm_eps)
    writer.add_vocab_size(config.vocab_size)
    writer.add_rope_dimension_count(head_dim)
    if arch == gguf.MODEL_ARCH.QWEN3:
        writer.add_key_length(head_dim)
        writer.add_value_length(head_dim)
    writer.add_file_type(file_type)
    _add_tokenizer(writer, tokenizer, config.vocab_size)

    names = gguf.get_tensor_name_map(arch, config.num_hidden_layers)
    count = 0
    factors = rope_factors(config, arch)
    if factors is not None:
        rope_freqs = gguf.TENSOR_NAMES[gguf.MODEL_TENSOR.ROPE_FREQS] + ".weight"
        writer.add_tensor(rope_freqs, factors, raw_dtype=gguf.GGMLQuantizationType.F32)
        count += 1
    for hf_name, weight in model.state_dict().items():
        if tied and hf_name == "lm_head.weight":
            continue
        if hf_name.endswith("rotary_emb.inv_freq"):
            continue
        gguf_name = names.get_name(hf_name, try_suffixes=(".weight", ".bias"))
        if gguf_name is None:
            raise UserError(f"No GGUF name for the tensor {hf_name} of this {arch.name} model.")
        if arch in INTERLEAVED_ROPE and hf_name.endswith("q_proj.weight"):
            weight = interleave_rotary(weight, heads)
        elif arch in INTERLEAVED_ROPE and hf_name.endswith("k_proj.weight"):
            weight = interleave_rotary(weight, kv_heads)
        data, tensor_type = _tensor_data(gguf_name, weight, qtype)
        writer.add_tensor(gguf_name, data, raw_dtype=tensor_type)
        count += 1

    _say(f"writing {count} tensors ({outtype}) to {path}")
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    os.replace(work, path)
    return Written(
        path,
        outtype,
        path.stat().st_size,
        count,
        gguf.MODEL_ARCH_NAMES[arch],
        bool(tokenizer.chat_template),
    )


def _rope_theta(config: Any) -> float:
    parameters = getattr(config, "rope_parameters", None) or {}
    theta = parameters.get("rope_theta") or getattr(config, "rope_theta", None)
    if theta is None:
        raise UserError("The model's configuration names no rotary base (rope_theta).")
    return float(theta)


def rope_factors(config: Any, arch: gguf.MODEL_ARCH) -> np.ndarray[Any, Any] | None:
    """llama.cpp's ``rope_freqs``: what each rotary frequency is divided by under Llama
    3.1-style scaling (transformers' own llama3 frequencies against the plain ones);
    None without scaling. Other scalings are refused: a GGUF would rotate differently."""
    parameters = getattr(config, "rope_parameters", None) or {}
    kind = parameters.get("rope_type") or "default"
    if kind == "default":
        return None
    if kind != "llama3" or arch not in INTERLEAVED_ROPE:
        raise UserError(
            f"Rotary scaling `{kind}` is not written to GGUF by ftwizard yet.",
            hint="Merge the run (`ftwizard merge RUN`) and convert the folder with llama.cpp's "
            "convert_hf_to_gguf.py.",
        )
    from transformers.modeling_rope_utils import ROPE_INIT_FUNCTIONS

    scaled, _ = ROPE_INIT_FUNCTIONS["llama3"](config, torch.device("cpu"))
    head_dim = getattr(config, "head_dim", None) or config.hidden_size // config.num_attention_heads
    dim = int(head_dim * parameters.get("partial_rotary_factor", 1.0))
    plain = 1.0 / (_rope_theta(config) ** (torch.arange(0, dim, 2).float() / dim))
    factors: np.ndarray[Any, Any] = (plain / scaled.float()).numpy().astype(np.float32)
    return factors


def _add_tokenizer(writer: gguf.GGUFWriter, tokenizer: Any, vocab_size: int) -> None:
    """A BPE ("gpt2") vocabulary as llama.cpp reads it: every id's token and type."""
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is None or type(backend.model).__name__ != "BPE":
        raise UserError(
            "Only byte-level BPE tokenizers (Llama 3, Qwen, SmolLM) are written to GGUF by "
            "ftwizard yet; this model's is a SentencePiece one.",
            hint="Merge the run (`ftwizard merge RUN`) and convert the folder with llama.cpp's "
            "convert_hf_to_gguf.py.",
        )
    by_id = {index: token for token, index in tokenizer.get_vocab().items()}
    added = tokenizer.added_tokens_decoder
    tokens: list[str] = []
    types: list[int] = []
    for index in range(vocab_size):
        token = by_id.get(index)
        if token is None:
            tokens.append(f"[PAD{index}]")
            types.append(gguf.TokenType.UNUSED)
        elif index in added:
            tokens.append(token)
            special = added[index].special or (token.startswith("<|") and token.endswith("|>"))
            types.append(gguf.TokenType.CONTROL if special else gguf.TokenType.USER_DEFINED)
        else:
            tokens.append(token)
            types.append(gguf.TokenType.NORMAL)
    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre(pre_tokenizer(tokenizer))
    writer.add_add_space_prefix(False)  # byte-level BPE encodes spaces itself
    writer.add_token_list(tokens)
    writer.add_token_types(types)

    model = json.loads(backend.to_str())["model"]
    merges = [m if isinstance(m, str) else " ".join(m) for m in model.get("merges", [])]
    writer.add_token_merges(merges)
    for kind in ("bos", "eos", "unk", "pad"):
        special_id = getattr(tokenizer, f"{kind}_token_id", None)
        if special_id is not None:
            getattr(writer, f"add_{kind}_token_id")(special_id)
    writer.add_add_bos_token(bool(getattr(tokenizer, "add_bos_token", False)))
    if tokenizer.chat_template:
        writer.add_chat_template(tokenizer.chat_template)


def load_final_model(run: RunFolder) -> tuple[Any, Any]:
    """The run's model with any adapter merged in, in fp32 on the CPU, and its tokenizer."""
    from transformers import AutoModelForCausalLM

    from ftwizard.trainer.components.loading import refuse_pickled_weights
    from ftwizard.trainer.components.run_model import base_model, final_tokenizer, tuned_model

    run.require_text_model()
    if (run.final_dir / "adapter_config.json").exists():
        _say("merging the adapter into its base")
        model = tuned_model(run, base_model(run, torch.float32)).merge_and_unload()
    else:
        refuse_pickled_weights(str(run.final_dir), run.name)
        model = AutoModelForCausalLM.from_pretrained(
            str(run.final_dir), dtype=torch.float32, use_safetensors=True
        )
    return model.eval(), final_tokenizer(run)


def stop_tokens(model: Any, tokenizer: Any) -> list[str]:
    """The tokens that end an answer: the tokenizer's EOS and the generation config's."""
    ids = model.generation_config.eos_token_id
    ids = [ids] if isinstance(ids, int) else list(ids or [])
    if tokenizer.eos_token_id is not None:
        ids.insert(0, tokenizer.eos_token_id)
    return list(dict.fromkeys(tokenizer.convert_ids_to_tokens(ids)))


def ollama_pieces(tokenizer: Any) -> ollama.TurnPieces | None:
    """The chat template cut into the pieces the Modelfile's Go template replays."""
    if not tokenizer.chat_template:
        return None

    def render(messages: list[dict[str, str]], generation_prompt: bool) -> str:
        text = tokenizer.apply_chat_template(
            messages, tokenize=False, add_generation_prompt=generation_prompt
        )
        return str(text)

    add_bos = bool(getattr(tokenizer, "add_bos_token", False))  # as _add_tokenizer writes it
    return ollama.turn_pieces(render, tokenizer.bos_token if add_bos else None)


def export(run: RunFolder, outtype: str, out: Path | None, for_ollama: bool) -> Exported:
    path = out or run.path / "export" / f"{run.name}-{outtype}.gguf"
    path.parent.mkdir(parents=True, exist_ok=True)
    model, tokenizer = load_final_model(run)
    # The template is cut before the slow part, so a refusal comes before the wait.
    pieces = ollama_pieces(tokenizer) if for_ollama else None
    written = write_gguf(model, tokenizer, path, outtype, run.name)
    if not for_ollama:
        return written.answer()
    facts = OllamaFacts(
        pieces=None if pieces is None else asdict(pieces), stop=stop_tokens(model, tokenizer)
    )
    return written.answer(facts)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ftwizard.trainer.gguf_export")
    parser.add_argument("run_dir")
    parser.add_argument("--outtype", choices=sorted(OUTTYPES), default="f16")
    parser.add_argument("--out")
    parser.add_argument("--ollama", action="store_true", help="answer the Modelfile's pieces too")
    args = parser.parse_args(argv)
    run = RunFolder(Path(args.run_dir))
    out = Path(args.out) if args.out else None
    return reply(lambda: export(run, args.outtype, out, args.ollama).model_dump(mode="json"))


if __name__ == "__main__":
    sys.exit(main())
