"""The NER pipeline: whole notes in, Documents with exact character offsets out.

The CLI, the Python API (``clinlm.load``) and the trainer's evaluation all run
this one object, so there is a single inference path.
"""
from __future__ import annotations

import dataclasses
import itertools
import os
from pathlib import Path
from typing import Callable, Iterable, Iterator, Sequence

import numpy as np
import torch

from clinlm import manifest as manifest_io
from clinlm.runtime.attention import fuse_attention
from clinlm.decoding import allowed_transitions, viterbi
from clinlm.document import Document
from clinlm.errors import ConfigError, ModelError
from clinlm.runtime.encoder import TokenClassifier as LeanModel, load as lean_encoder, read_config
from clinlm.runtime.loading import check_model_location, check_vocab_fits, check_weights, load_tokenizer
from clinlm.runtime.tokenizer import load as lean_tokenizer
from clinlm.runtime.device import Precision, cast_weights, inference_autocast, resolve_device, resolve_precision
from clinlm.runtime.memory import Releaser
from clinlm.runtime.onnx import OrtModel, is_onnx_dir
from clinlm.tasks.ner.consistency import consistent_types
from clinlm.tasks.ner.lexicon import TypeLexicon
from clinlm.tasks.ner.transitions import from_manifest as transition_scores
from clinlm.text import tags_to_entities
from clinlm.runtime.threads import configure_torch_threads, inference_threads
from clinlm.windows import Encoded, content_length, encode, owners, plan, special_parts

DEFAULT_MODEL_DIR = Path(__file__).resolve().parents[2] / "models" / "default"  # clinlm/models/default
DECODERS = ("viterbi", "argmax")
ENGINES = ("auto", "transformers")
# Window widths (special tokens included) a batch is padded up to when buckets are on: a compiled
# graph is built once per width, not once per note length. Capped at the model's window length.
BUCKETS = (64, 128, 256, 384, 512)
INDUCTOR_CACHE = Path.home() / ".cache" / "clinlm" / "inductor"


class NerPipeline:
    """Tag clinical concepts in texts of any length.

    ``pipe(text) -> Document``; ``pipe.pipe(texts)`` streams Documents in input order.
    """

    task = "ner"

    def __init__(
        self,
        model,
        tokenizer,
        *,
        max_length: int | None = None,
        stride: int | None = None,
        decode: str = "viterbi",
        batch_tokens: int | None = None,
        device: str | torch.device = "auto",
        precision: str = "auto",
        manifest: dict | None = None,
        context=True,
        context_rules: str | Path | None = None,
        section_rules: str | Path | None = None,
        replace_rules: bool = False,
        clean: bool = True,
        linker=None,
        compile: bool = False,
        buckets: bool | None = None,
        transitions: bool = True,
        consistent_types: bool | None = None,
        type_lexicon: bool = True,
        long_forms: bool = True,
        block_breaks: bool = True,
        abbreviations: bool = True,
    ):
        """``context``: add assertion flags, an assertion label and the section to every entity
        (:mod:`clinlm.context`); ``True`` (default rules, plus ``context_rules``/``section_rules``
        files; ``replace_rules`` makes those replace the defaults), ``False``, or a
        :class:`~clinlm.context.ContextAnnotator`. ``clean`` (with context): drop what is not a
        concept (words of headers and sub-headers, people's names, ConText cue words such as
        "denies") and split entities at list items and headers (:mod:`clinlm.context.concepts`).
        ``linker``: link every entity to a vocabulary after context (``attributes["concepts"]``): an
        index folder (``clinlm link build``), a :class:`~clinlm.linking.Linker`, any object with a
        ``link_documents(docs)`` method, or a list of those (several vocabularies).
        ``compile``: run the model through ``torch.compile`` (its kernels cached on disk in
        ``~/.cache/clinlm/inductor``, or ``$TORCHINDUCTOR_CACHE_DIR``), paid once per machine and
        window width. ``buckets``: pad each batch to one of :data:`BUCKETS` (default: with
        ``compile``, where it lets graphs be reused; without it padding is only extra work).
        ``transitions``: add the learned transition scores of the model's ``clinlm.json`` to Viterbi
        decoding where it has them (:mod:`clinlm.tasks.ner.transitions`); ``False``: the IOB2
        constraints alone. ``consistent_types``: give every mention of a term repeated in a document
        one type (:mod:`clinlm.tasks.ner.consistency`); ``None``: as the model's ``clinlm.json`` says
        (``"consistent_types": true``), off where it says nothing. ``type_lexicon``: add the prior of
        the type lexicon in the model's ``clinlm.json`` to each known term's type evidence where it has
        one (:mod:`clinlm.tasks.ner.lexicon`); ``False``: the model's evidence alone. ``long_forms``
        (with one type per term): an abbreviation a note defines takes its long form's type
        (:func:`~clinlm.tasks.ner.consistency.follow_long_forms`). ``block_breaks``: where a note's
        line ends a block without punctuation (a list item without a bullet, a header without a
        colon: :func:`~clinlm.context.layout.open_breaks`), the model reads a sentence end
        (:func:`~clinlm.windows.encode`); ``False``: it reads words and spaces only. ``abbreviations``
        (with context and clean, in a note with sections, for a model with ST21pv's types): type, add
        or drop the clinical abbreviations of :mod:`clinlm.context.abbreviations` ("HTN", "CABG",
        "IV") that the note does not define."""
        self.context = make_context(context, context_rules, section_rules, replace_rules)
        self.linkers = make_linkers(linker)
        self.clean = bool(clean)
        self.model = model
        self.tokenizer = tokenizer
        self.manifest = dict(manifest or {})
        self.manifest_dir: Path | None = None
        self.labels = [model.config.id2label[i] for i in range(len(model.config.id2label))]
        limit = getattr(model.config, "max_position_embeddings", 512)
        self.max_length = min(max_length or self.manifest.get("max_length") or 512, limit)
        self.content_length = content_length(tokenizer, self.max_length)
        self.stride = stride if stride is not None else self.manifest.get("stride", min(128, self.content_length // 2))
        plan(self.content_length + 1, self.content_length, self.stride)  # validates stride now
        if decode not in DECODERS:
            raise ConfigError(f"unknown decoder {decode!r}; use one of {', '.join(DECODERS)}")
        self.decode = decode
        self.device = resolve_device(device) if not isinstance(device, torch.device) else device
        self.precision = _effective_precision(model, precision, self.device)
        self.dtype = self.precision.dtype
        self.batch_tokens = batch_tokens if batch_tokens is not None else default_batch_tokens(model.config, self.device, self.dtype)
        self.buckets = _buckets(self.max_length) if (compile if buckets is None else buckets) else ()
        self._run = _compiled(model) if compile and not isinstance(model, OrtModel) else model
        self._pre, self._post = special_parts(tokenizer)
        self._start, self._trans = allowed_transitions(self.labels)
        self._soft = transition_scores(self.manifest, self.labels) if transitions else None
        self.consistent_types = bool(self.manifest.get("consistent_types", False) if consistent_types is None
                                     else consistent_types)
        self.type_lexicon = TypeLexicon.from_manifest(self.manifest) if type_lexicon else None
        self.long_forms = bool(long_forms)
        self.block_breaks = bool(block_breaks)
        #: the clinical abbreviations a note may use undefined; with context and clean, for a model with their types
        self._abbreviations = None
        if abbreviations and self.context is not None and self.clean:
            from clinlm.context.abbreviations import load_abbreviations

            found = load_abbreviations()
            self._abbreviations = found if found.usable_with(self.labels) else None
        #: section -> columns of the labels a section favours, and by how much (log-odds); with context and clean
        self._prior_columns, self.section_prior = self._section_prior_columns() if self.context is not None and self.clean else ({}, 0.0)

    def _section_prior_columns(self) -> tuple[dict[str, np.ndarray], float]:
        """Per section category, ``[k, 2]`` tag columns ``(from, to)``: B- with B-, I- with I-."""
        from clinlm.context.concepts import load_section_types, section_types_for

        rules, prior = load_section_types()
        rules = section_types_for({t.split("-", 1)[-1] for t in self.labels}, rules)
        index = {tag: i for i, tag in enumerate(self.labels)}
        cols = {section: np.array([(index[f"{p}-{a}"], index[f"{p}-{b}"]) for a, b in m.items() for p in "BI"
                                   if f"{p}-{a}" in index and f"{p}-{b}" in index], dtype=np.int64).reshape(-1, 2)
                for section, m in rules.items()}
        return cols, prior

    def _section_prior(self, text: str, enc: Encoded, logp: np.ndarray) -> np.ndarray:
        """The section's prior on the labels (``context/resources/section_types.json``): in a review of
        systems or an exam, the probability the model gives T038 and T033 together is split with
        ``section_prior`` more log-odds for T033; O and every other label keep theirs. Near-ties move
        ("murmurs": T038 -> T033), what the model is sure of stays ("Graves disease" listed in a
        review of systems), and no word becomes an entity that was not one."""
        starts = np.asarray(enc.words.starts)
        out = None
        for sec in self.context.layout(text).sections if len(starts) else ():
            pairs = self._prior_columns.get(sec.category or "")
            if pairs is None or not len(pairs):
                continue
            rows = np.nonzero((starts >= sec.start) & (starts < sec.end))[0]
            if not len(rows):
                continue
            # only words whose best tag is already one of the pair: the prior picks the type, never makes an entity
            rows = rows[np.isin(logp[rows].argmax(axis=1), pairs)]
            if not len(rows):
                continue
            out = logp.copy() if out is None else out
            for src, dst in pairs:
                a, b = out[rows, src], out[rows, dst] + self.section_prior
                total = np.logaddexp(out[rows, src], out[rows, dst])
                norm = np.logaddexp(a, b)
                out[rows, src], out[rows, dst] = total + a - norm, total + b - norm
        return logp if out is None else out

    # -- construction -------------------------------------------------------------
    @classmethod
    def from_pretrained(cls, path: str | Path | None = None, *, cased: bool | None = None, engine: str = "auto",
                        **options) -> "NerPipeline":
        """Load a token-classification checkpoint (local directory or hub id); ``None`` is the shipped default.

        ``engine``: ``"auto"`` runs a local BERT or Megatron-BERT checkpoint on clinlm's lean encoder
        (:mod:`clinlm.runtime.encoder`: same logits, no transformers import, fused CPU kernels) and
        everything else on transformers; ``"transformers"`` always uses transformers' model."""
        if engine not in ENGINES:
            raise ConfigError(f"unknown engine {engine!r}; use one of {', '.join(ENGINES)}")
        if path is None:
            if not (DEFAULT_MODEL_DIR / "config.json").is_file():
                raise ModelError("no default model is installed with clinlm; pass --model DIR")
            path = DEFAULT_MODEL_DIR
        path = str(path)
        check_model_location(path)
        # rule files are checked before the model is loaded
        options["context"] = make_context(options.pop("context", True), options.pop("context_rules", None),
                                          options.pop("section_rules", None), options.pop("replace_rules", False))
        options["linker"] = make_linkers(options.pop("linker", None))  # an index is checked before the model loads
        local = Path(path).is_dir()
        man = manifest_io.read(path) if local else {}
        archs = _architectures(path, local)
        if man.get("task", "ner") != "ner" or not any(a.endswith("ForTokenClassification") for a in archs):
            raise ModelError(f"{path} is not a token-classification (NER) model (architectures: {archs or 'none'})")
        if cased is None and "cased" in man:
            cased = man["cased"]
        lean = local and engine == "auto" and not is_onnx_dir(path)
        tokenizer = (lean and lean_tokenizer(path, cased)) or load_tokenizer(path, cased=cased)
        device = resolve_device(options.pop("device", "auto"))
        model = _load_weights(path, tokenizer, device, resolve_precision(options.get("precision", "auto"), device), lean)
        for key in ("max_length", "stride", "decode"):
            if key not in options and key in man:
                options[key] = man[key]
        pipe = cls(model, tokenizer, device=device, manifest=man, **options)
        pipe.manifest_dir = Path(path)
        return pipe

    def save_pretrained(self, path: str | Path) -> None:
        path = Path(path)
        self.model.save_pretrained(path)
        self.tokenizer.save_pretrained(path)
        man = dict(self.manifest, task="ner", max_length=self.max_length, stride=self.stride, decode=self.decode)
        manifest_io.write(path, man)

    # -- annotation -----------------------------------------------------------------
    def __call__(self, text: str | Document) -> Document:
        return next(iter(self.pipe([text])))

    def pipe(self, texts: Iterable[str | Document], batch_size: int = 64,
             on_progress: Callable[[int, int], None] | None = None) -> Iterator[Document]:
        """Annotate a stream of texts or Documents, ``batch_size`` notes at a time (flat memory).

        ``on_progress(done, planned)`` is called after each forward pass with the windows run so far
        and those planned so far (``planned`` grows as each group of notes is tokenized), so a
        caller can show progress inside one long note, not only from note to note.
        """
        if batch_size < 1:
            raise ConfigError(f"batch_size must be at least 1, not {batch_size}")
        # a long stream gives freed heap pages back every 5 s between groups (flat memory: without it
        # RSS crept from 959 to 1,543 MB over 10,000 notes; a call shorter than 5 s never pays it)
        release = Releaser(interval=5.0, wait_first=True)
        it = iter(texts)
        counter = itertools.count()
        earlier = [0]  # windows of the groups of notes already annotated
        while True:
            chunk = list(itertools.islice(it, batch_size))
            if not chunk:
                return
            docs = [
                d if isinstance(d, Document) else Document(str(next(counter)), d)
                for d in chunk
                if isinstance(d, (str, Document)) or _raise_type(d)
            ]
            report = None
            if on_progress is not None:
                def report(done: int, planned: int, base: int = earlier[0]) -> None:
                    earlier[0] = base + planned
                    on_progress(base + done, base + planned)
            yield from self._annotate(docs, report)
            release()

    def encode(self, texts: Sequence[str]) -> list[Encoded]:
        """``texts`` as the model reads them: words, subwords and, with ``block_breaks``, a sentence end
        at each block break no punctuation marks (under this pipeline's section rules)."""
        if not self.block_breaks:
            return encode(self.tokenizer, texts)
        from clinlm.context.layout import open_breaks, read_layout

        layout = self.context.layout if self.context is not None else read_layout
        return encode(self.tokenizer, texts, [open_breaks(t, layout(t)) for t in texts])

    def _annotate(self, docs: Sequence[Document], on_progress: Callable[[int, int], None] | None = None) -> list[Document]:
        encs = self.encode([d.text for d in docs])
        out = []
        for doc, enc, logp in zip(docs, encs, self.word_logprobs(encs, on_progress)):
            if self._prior_columns:
                logp = self._section_prior(doc.text, enc, logp)
            done = doc.with_entities(self.decode_words(enc, logp, self._soft))
            done.metadata["clinlm"] = self.precision.metadata()  # how these entities were computed
            out.append(done)
        if self.context is not None:
            out = list(self.context.pipe(out, clean=self.clean, abbreviations=self._abbreviations))
        for linker in self.linkers:
            out = list(linker.link_documents(out))
        return out

    def decode_words(self, enc: Encoded, logp: np.ndarray, soft: np.ndarray | None) -> list:
        """A document's entities from its word log-probabilities, decoded as this model decodes
        (Viterbi under the IOB2 constraints plus ``soft`` transition scores, or argmax); each scored
        by its words' probabilities. :func:`~clinlm.tasks.ner.transitions.choose_scale` decodes
        dev documents here with each candidate ``soft``."""
        path = viterbi(logp, self._start, self._trans, soft) if self.decode == "viterbi" else logp.argmax(axis=1)
        tags = [self.labels[i] for i in path]
        probs = np.exp(logp[np.arange(len(path)), path]) if len(path) else np.zeros(0)
        entities = tags_to_entities(enc.words, tags, probs.tolist())
        if not (self.consistent_types or self.type_lexicon):
            return entities
        return consistent_types(entities, enc.words, logp, self.labels, self.type_lexicon, group=self.consistent_types,
                                long_forms=self.long_forms)

    def decode_documents(self, docs: Sequence[Document], encoded: tuple[list[Encoded], list[np.ndarray]],
                         soft: np.ndarray | None | str = "model") -> list[Document]:
        """``docs`` with the entities decoded from ``encoded`` (:meth:`document_logprobs` of them), as
        this model decodes now; ``soft``: other transition scores (``None``: plain Viterbi). What a
        choice made on dev documents runs once per candidate."""
        soft = self._soft if isinstance(soft, str) else soft
        return [d.with_entities(self.decode_words(enc, lp, soft)) for d, enc, lp in zip(docs, *encoded)]

    def document_logprobs(self, docs: Sequence[Document], batch_size: int = 32) -> tuple[list[Encoded], list[np.ndarray]]:
        """``docs`` encoded and their word log-probabilities, ``batch_size`` documents a pass: what a
        choice made on dev documents decodes again for each candidate (the model runs once)."""
        encs = self.encode([d.text for d in docs])
        logps: list[np.ndarray] = []
        for i in range(0, len(encs), batch_size):
            logps += self.word_logprobs(encs[i: i + batch_size])
        return encs, logps

    def word_logprobs(self, encs: Sequence[Encoded],
                      on_progress: Callable[[int, int], None] | None = None) -> list[np.ndarray]:
        """Per document, ``[n_words, n_labels]`` label log-probabilities, each word read from
        the window where it has most context. Words the tokenizer drops get zeros (no preference).
        ``on_progress(done, total)``: windows run and windows planned, once before the first
        forward pass and after each one."""
        spans = [plan(len(e.input_ids), self.content_length, self.stride) for e in encs]
        owned = [_group(owners(e, s), len(s)) for e, s in zip(encs, spans)]
        result = [np.zeros((len(e.first_subword), len(self.labels)), dtype=np.float32) for e in encs]
        jobs = [(d, j, s, e) for d, sp in enumerate(spans) for j, (s, e) in enumerate(sp)]
        jobs.sort(key=lambda job: job[3] - job[2])
        n_special = len(self._pre) + len(self._post)
        done = 0
        if on_progress is not None:
            on_progress(done, len(jobs))
        for batch in _pack(jobs, lambda job: job[3] - job[2] + n_special, self.batch_tokens):
            logp = self._forward([encs[d].input_ids[s:e] for d, _, s, e in batch])
            for row, (d, j, s, e) in enumerate(batch):
                mine = owned[d][j]
                pos = encs[d].first_subword[mine] - s + len(self._pre)
                result[d][mine] = logp[row, pos]
            done += len(batch)
            if on_progress is not None:
                on_progress(done, len(jobs))
        return result

    def _forward(self, chunks: Sequence[np.ndarray]) -> np.ndarray:
        width = max(len(c) for c in chunks) + len(self._pre) + len(self._post)
        width = next((b for b in self.buckets if b >= width), width)
        pad = self.tokenizer.pad_token_id or 0
        ids = np.full((len(chunks), width), pad, dtype=np.int64)
        mask = np.zeros((len(chunks), width), dtype=np.int64)
        for i, c in enumerate(chunks):
            row = np.concatenate([self._pre, c, self._post]).astype(np.int64)
            ids[i, : len(row)] = row
            mask[i, : len(row)] = 1
        if isinstance(self.model, OrtModel):
            return self.model.logprobs(ids, mask)
        cuda = self.device.type == "cuda"
        with torch.inference_mode(), inference_autocast(self.model, self.device, self.dtype):
            logits = self._run(
                input_ids=torch.from_numpy(ids).to(self.device, non_blocking=cuda),
                attention_mask=torch.from_numpy(mask).to(self.device, non_blocking=cuda),
            ).logits
            return torch.log_softmax(logits.float(), dim=-1).cpu().numpy()


def _architectures(path: str, local: bool) -> list[str]:
    """The checkpoint's ``architectures``, read without transformers for a local folder."""
    if local:
        return list(read_config(path).get("architectures") or [])
    from transformers import AutoConfig

    try:
        return list(AutoConfig.from_pretrained(path).architectures or [])
    except Exception as exc:  # noqa: BLE001
        raise ModelError(f"cannot read the model config of {path}: {exc}") from None


def _load_weights(path: str, tokenizer, device: torch.device, precision: Precision, lean: bool = False):
    """The model to run: ONNX Runtime for a directory holding ``model.onnx``; with ``lean``, clinlm's
    encoder where it knows the architecture; else transformers. Its weights are cast once for
    ``precision`` (:func:`~clinlm.runtime.device.cast_weights`)."""
    if is_onnx_dir(path):
        if precision.requested not in ("auto", "fp32"):
            raise ConfigError(f"{path} is an ONNX export: its precision was fixed at export (fp32, or --int8); "
                              "leave --precision at auto")
        return OrtModel(path, threads=inference_threads(), cuda=device.type == "cuda")
    if device.type == "cpu":
        configure_torch_threads()
    check_weights(path)
    model = lean_encoder(path) if lean else None
    if model is None:
        from transformers import AutoModelForTokenClassification

        from clinlm.runtime.loading import load_pretrained  # safetensors only, a one-line error otherwise

        model = load_pretrained(AutoModelForTokenClassification, path)  # quiet: no "Loading weights" bar
        fuse_attention(model)
    check_vocab_fits(model, tokenizer, path)
    return cast_weights(model.to(device), precision).eval()


def _effective_precision(model, precision: str, device: torch.device) -> Precision:
    """What the pipeline really computes in, as its outputs record it: ONNX Runtime runs its
    export (fp32, or int8 weights); a model handed in with fp32 weights under ``bf16-weights`` runs
    under autocast instead, since casting a caller's model (the trainer's, mid-training) in place
    would change it under them; one handed in with half weights computes in that type."""
    chosen = resolve_precision(precision, device)
    if isinstance(model, OrtModel):
        mode = "int8-weights" if getattr(model, "int8", False) else "fp32"
        return dataclasses.replace(chosen, mode=mode, dtype=torch.float32, backend="onnx", engine="onnxruntime")
    if isinstance(model, LeanModel):
        chosen = dataclasses.replace(chosen, engine="lean")
    weights = next(model.parameters()).dtype
    if chosen.mode == "bf16-weights" and weights == torch.float32:
        return dataclasses.replace(chosen, mode="autocast")
    if weights != torch.float32:
        return dataclasses.replace(chosen, mode="bf16-weights", dtype=weights)
    return chosen


def default_batch_tokens(config, device: torch.device, dtype: torch.dtype) -> int:
    """Padded tokens per forward: 16,384 on a GPU; on a CPU the most (a power of two, 1,024 to
    16,384) whose largest activation, ``tokens x intermediate_size``, stays within 32 MiB.

    glibc gives each larger block fresh pages from the kernel and returns them on free, so every
    forward of a bigger batch pays its page faults again (a 50 MB bf16 FFN activation: 14 ms to
    allocate and fill against 1.6 ms reused, on an AMX Xeon); blocks up to 32 MiB are reused from
    the heap. MiniLM in bf16: 8,192 tokens, the whole-note benchmark x1.3 faster than 16,384."""
    if device.type != "cpu":
        return 16384
    width = getattr(config, "intermediate_size", None) or 4 * getattr(config, "hidden_size", 768)
    size = torch.finfo(dtype).bits // 8 if dtype.is_floating_point else 4
    tokens = 16384
    while tokens > 1024 and tokens * width * size > 32 * 2**20:
        tokens //= 2
    return tokens


def _buckets(max_length: int) -> tuple[int, ...]:
    """:data:`BUCKETS` below ``max_length``, then ``max_length`` itself."""
    return tuple(b for b in BUCKETS if b < max_length) + (max_length,)


def _compiled(model):
    """``torch.compile(model)`` with Inductor's cache on disk, so a later process reuses the kernels.

    Freezing treats the weights as constants, so Inductor may pack them once for oneDNN and fuse
    the elementwise work around the matmuls (plain ``torch.compile`` was no faster than eager).
    Even so, on whole corpora an AMX Xeon ran it at x0.97-1.2 the eager path after a 23 s first
    pass (README), so it stays opt-in. Inference only, as here."""
    os.environ.setdefault("TORCHINDUCTOR_CACHE_DIR", str(INDUCTOR_CACHE))
    # widths are bucketed; the batch size goes dynamic after its first change
    return torch.compile(model, options={"freezing": True})


def _group(owner: np.ndarray, n_windows: int) -> list[np.ndarray]:
    """Word indices owned by each window, in one pass."""
    order = np.argsort(owner, kind="stable")
    bounds = np.searchsorted(owner[order], np.arange(n_windows + 1))
    return [order[bounds[j] : bounds[j + 1]] for j in range(n_windows)]


def _pack(jobs: list, cost, budget: int) -> Iterator[list]:
    """Consecutive batches of length-sorted jobs whose padded size stays within ``budget`` tokens."""
    batch: list = []
    for job in jobs:
        width = cost(job)
        if batch and width * (len(batch) + 1) > budget:
            yield batch
            batch = []
        batch.append(job)
    if batch:
        yield batch


def make_context(context=True, rules=None, section_rules=None, replace=False):
    """The :class:`~clinlm.context.ContextAnnotator` a pipeline uses, or ``None`` for ``context=False``."""
    from clinlm.context import ContextAnnotator, default_annotator

    extra = rules is not None or section_rules is not None or replace
    if isinstance(context, ContextAnnotator):
        if extra:
            raise ConfigError("give rule files to the ContextAnnotator, not beside it")
        return context
    if not context:
        if extra:
            raise ConfigError("context rules were given but context is off (--no-context)")
        return None
    return ContextAnnotator(rules, section_rules, replace) if extra else default_annotator()


def make_linkers(linker=None) -> list:
    """The linkers a pipeline runs: ``None`` -> none; an index folder -> a
    :class:`~clinlm.linking.Linker` over it; an object with ``link_documents(docs)`` as it is; a list
    of those."""
    if linker is None:
        return []
    if isinstance(linker, (list, tuple)):
        return [x for item in linker for x in make_linkers(item)]
    if isinstance(linker, (str, Path)):
        from clinlm.linking import Linker

        return [Linker.load(linker)]
    if not callable(getattr(linker, "link_documents", None)):
        raise ConfigError(f"a linker is an index folder or an object with link_documents(docs), not {type(linker).__name__}")
    return [linker]


def _raise_type(obj) -> bool:
    raise ConfigError(f"can only annotate str or Document, not {type(obj).__name__}")


def load(path: str | Path | None = None, **options) -> NerPipeline:
    """``clinlm.load()`` -> the shipped default model; ``clinlm.load(dir_or_hub_id)`` -> that one."""
    return NerPipeline.from_pretrained(path, **options)
