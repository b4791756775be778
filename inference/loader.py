"""Load an Engine: locate, verify, check the fit, then load processor, model and drafter.

Everything cheap and checkable happens before anything heavy: a broken folder or a model that
does not fit is refused in well under a second, with a message that says what to do.
"""

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from inference.errors import ModelCorrupt
from inference.locate import force_offline, locate_assistant, locate_model

Progress = Callable[[str, float], None]  # (what is happening, fraction done 0..1)


@dataclass(frozen=True)
class LoadOptions:
    model: str  # a snapshot folder, or a repo id already in the Hugging Face cache
    assistant: str | None = None  # None: look beside the model
    use_draft: bool = True
    quantization: str = "int4"
    device: str = "auto"
    context_tokens: int = 8192
    cache_dir: Path | None = None  # quantized copies; None: quantize at every load
    max_audio_seconds: float = 300.0
    check_memory: bool = True
    extra: dict = field(default_factory=dict)


def load_engine(options: LoadOptions, progress: Progress | None = None):
    from inference import fit, verify

    force_offline()
    report_progress = progress or (lambda _what, _fraction: None)
    report_progress("Checking the model folder", 0.0)
    model_dir = locate_model(options.model)
    report = verify.verify_model(model_dir)
    assistant_report = None
    if options.use_draft:
        assistant_dir = locate_assistant(model_dir, options.assistant)
        if assistant_dir is not None:
            assistant_report = verify.verify_assistant(assistant_dir, report)

    report_progress("Starting the engine", 0.05)
    from inference.warm_imports import import_engine_libraries

    _quiet_torch()  # before the imports: importing optimum.quanto logs a CUDA warning otherwise
    import_engine_libraries(quantized=options.quantization != "none")  # torch: only after the cheap checks
    _quiet_libraries()
    from inference.device import choose_device, choose_dtype

    device = choose_device(options.device)
    dtype = choose_dtype(device)
    if options.check_memory:
        fit.require_fit(report, options.quantization, str(device), options.context_tokens, assistant_report,
                        dtype=str(dtype).removeprefix("torch."))

    report_progress("Loading the processor", 0.1)
    model, processor = _load_model(report, options, dtype, report_progress)
    if device.type != "cpu":
        model.to(device)
    from inference import quant

    routes = quant.route_int4(model) if options.quantization == "int4" and device.type == "cpu" else quant.Int4Routes()
    int8_routes = quant.route_int8(model) if options.quantization == "int8" and device.type == "cpu" else 0
    assistant = None
    if assistant_report is not None:
        report_progress("Loading the drafter", 0.9)
        assistant = _load_assistant(assistant_report.path, dtype).to(device)
    from inference import attention, bf16_gemv, bf16_prompt, int8_linear

    heads = bf16_gemv.route_heads(model, assistant)  # bf16 heads on the CPU, whatever the scheme
    linears = bf16_gemv.route_linears(model, assistant)  # the other bf16 matrices' decoding
    prompts = bf16_prompt.route_linears(model, assistant)  # their prompts, where the CPU has no bf16 GEMM
    if device.type == "cpu":
        attention.install()  # decoding's attention as float32 matmuls, not SDPA's flash kernel

    from inference import quant_kernels
    from inference.engine import Engine, EngineInfo, resident_bytes

    info = EngineInfo(
        model_name=report.name, model_dir=str(model_dir), device=str(device),
        dtype=str(dtype).removeprefix("torch."), quantization=options.quantization,
        drafter=assistant_report.path.name if assistant_report else None,
        resident_bytes=resident_bytes(model, assistant),
        kernels=", ".join(filter(None, [
            _kernels(quant_kernels.prepare(), routes) if options.quantization == "int4" else "",
            f"int8: {int8_linear.describe()} ({int8_routes} layers)" if options.quantization == "int8" and device.type == "cpu" else "",
            f"head: {bf16_gemv.describe()} ({heads} routed, {linears} other bf16 matrices)" if device.type == "cpu" else "",
            f"bf16 prompts: float32 slices ({prompts} matrices; no bf16 GEMM on this CPU)" if prompts else ""])),
    )
    report_progress("Ready", 1.0)
    return Engine(model, processor, info, assistant=assistant, context_tokens=options.context_tokens,
                  max_audio_seconds=options.max_audio_seconds)


def _kernels(quanto_choices, routes) -> str:
    from inference import int4_unpack, int4_int8

    unpack = "prebuilt" if int4_unpack.library() is not None else "missing"
    int8 = int4_int8.describe()
    return ", ".join([*(str(k) for k in quanto_choices),
                      f"int4 unpack: {unpack} ({routes.long} layers prefill in bf16)",
                      f"int4 x int8: {int8} ({routes.short} layers, {_rows(int4_int8.max_rows())})"])


def _rows(limit: int) -> str:
    from inference import int4_int8

    return "inputs of any length" if limit >= int4_int8.ANY_LENGTH else f"inputs under {limit} rows"


def _quiet_torch() -> None:
    import logging

    logging.getLogger("torch.utils.cpp_extension").setLevel(logging.ERROR)


def _quiet_libraries() -> None:
    """Library progress bars and warnings are not for users: the caller reports progress."""
    _quiet_torch()
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    hf_logging.set_verbosity_error()


def _load_model(report, options: LoadOptions, dtype, progress: Progress):
    from safetensors import SafetensorError
    from transformers import AutoConfig, AutoProcessor, Gemma4UnifiedForConditionalGeneration

    from inference import quant

    try:
        processor = AutoProcessor.from_pretrained(report.path, local_files_only=True)
    except (OSError, ValueError, KeyError) as exc:
        raise ModelCorrupt(f"The processor or tokenizer files in {report.path} cannot be read ({exc}). "
                           "Download the model again.") from None
    scheme = options.quantization
    copy = quant.copy_dir(options.cache_dir, report.revision, scheme, dtype) if options.cache_dir else None
    if copy is not None and scheme != "none" and quant.has_copy(copy):
        progress("Loading the quantized copy", 0.2)
        config = AutoConfig.from_pretrained(report.path, local_files_only=True)
        try:
            return quant.load_quantized(copy, config, Gemma4UnifiedForConditionalGeneration, dtype), processor
        except (OSError, RuntimeError, ValueError, KeyError, TypeError, SafetensorError) as exc:
            # A damaged copy (truncated shard, incomplete marker...): quantize again.
            progress(f"The quantized copy is damaged ({exc}); quantizing again", 0.2)
    progress("Loading and quantizing the weights" if scheme != "none" else "Loading the weights", 0.2)
    try:
        model = Gemma4UnifiedForConditionalGeneration.from_pretrained(
            report.path, dtype=dtype, quantization_config=quant.quantization_config(scheme),
            # use_kernels: since 5.25 transformers swaps layers for compiled ones from the Hub
            # (the `kernels` package) unless told not to; Seesay runs only code it ships, offline.
            local_files_only=True, use_safetensors=True, use_kernels=False,
        ).eval()
    except (OSError, ValueError) as exc:
        raise ModelCorrupt(f"The weights in {report.path} cannot be loaded ({exc}). Download the model again.") from None
    except RuntimeError as exc:
        if "mismatched_sizes" not in str(exc):  # e.g. out of memory: not the files' fault
            raise
        raise ModelCorrupt(f"The weights in {report.path} do not have the shapes its config.json describes: "
                           "the files come from different downloads. Download the model again.") from None
    quant.align_weights(model)
    if copy is not None and scheme != "none" and quant.worth_saving(model):
        progress("Saving the quantized copy for faster starts", 0.8)
        try:
            quant.save_quantized(model, copy, scheme)
        except OSError as exc:  # e.g. a full disk: the model is loaded, only later starts are slower
            progress(f"Could not save the quantized copy ({exc.strerror or exc}); the next start quantizes again", 0.9)
    return model, processor


def _load_assistant(path: Path, dtype):
    from transformers import AutoModelForCausalLM

    assistant = AutoModelForCausalLM.from_pretrained(path, dtype=dtype, local_files_only=True,
                                                     use_safetensors=True, use_kernels=False).eval()  # as above
    config = assistant.generation_config
    if not getattr(config, "num_assistant_tokens", None):
        config.num_assistant_tokens = 4  # transformers needs it set for this drafter
    # A constant draft length keeps "drafted vs accepted" in the stats meaningful.
    config.num_assistant_tokens_schedule = "constant"
    return assistant
