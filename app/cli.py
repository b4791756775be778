"""The command line: ``seesay ask ...`` streams an answer to stdout; ``seesay check`` reports.

Exit codes: 0 ok, 2 usage, 3 model problem (missing, corrupt, wrong type, does not fit),
4 input problem (unreadable image or audio), 130 cancelled with Ctrl+C (the partial answer stays
on stdout). Every error is one line on stderr; ``--debug`` adds the traceback.
"""

import argparse
import sys
import traceback

from inference.errors import ModelError, SeesayError

EXIT_OK, EXIT_USAGE, EXIT_MODEL, EXIT_INPUT, EXIT_CANCELLED = 0, 2, 3, 4, 130
DETAILS = (70, 140, 280, 560, 1120)


class _Ordered(argparse.Action):
    """Keeps --image / --audio / --screen in the order given: the model gets them in that order."""

    def __call__(self, parser, namespace, value, option_string=None):
        media = list(getattr(namespace, "media", None) or [])
        media.append((self.dest, value))
        namespace.media = media


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="seesay", description="Ask Gemma 4 about images, sound and text, offline.")
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    sub = parser.add_subparsers(dest="command", required=True)

    ask = sub.add_parser("ask", help="ask a question; the answer streams to stdout")
    _model_options(ask)
    ask.add_argument("--image", dest="image", action=_Ordered, metavar="PATH", help="attach an image (repeatable)")
    ask.add_argument("--audio", dest="audio", action=_Ordered, metavar="PATH", help="attach audio (repeatable)")
    ask.add_argument("--screen", dest="screen", action=_Ordered, nargs=0, help="attach a screenshot of the screen")
    ask.add_argument("--detail", type=int, choices=DETAILS, default=None, help="image detail in soft tokens")
    ask.add_argument("--no-draft", action="store_true", help="decode without the MTP drafter")
    ask.add_argument("--max-tokens", type=int, default=None, help="longest answer, in tokens")
    ask.add_argument("--greedy", action="store_true", help="always pick the most likely token")
    ask.add_argument("--stats", action="store_true", help="print speed and memory figures on stderr")
    ask.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    ask.add_argument("text", nargs="*", help="the question")
    ask.set_defaults(media=[])

    check = sub.add_parser("check", help="verify the model folder and say whether it fits in memory")
    _model_options(check)
    check.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    return parser


def _model_options(parser):
    parser.add_argument("--model", help="model folder or Hugging Face repo id (default: from Settings)")
    parser.add_argument("--assistant", help="drafter folder (default: beside the model)")
    parser.add_argument("--quant", choices=("int4", "int8", "none"), default=None, help="weight quantization")
    parser.add_argument("--device", choices=("auto", "cuda", "mps", "cpu"), default=None)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:
        return EXIT_USAGE if exit_.code else EXIT_OK
    try:
        return _check(args) if args.command == "check" else _ask(args)
    except KeyboardInterrupt:
        print("seesay: cancelled", file=sys.stderr)
        return EXIT_CANCELLED
    except SeesayError as error:
        if args.debug:
            traceback.print_exc()
        print(f"seesay: {error}", file=sys.stderr)
        return error.exit_code if error.exit_code in (EXIT_MODEL, EXIT_INPUT) else 1
    except Exception as error:  # a bug: still one line, unless --debug
        if args.debug:
            traceback.print_exc()
        print(f"seesay: unexpected error: {type(error).__name__}: {error} (run with --debug for details)",
              file=sys.stderr)
        return 1


def _options(args):
    from app import paths
    from app.settings import load_settings
    from inference.loader import LoadOptions

    settings, _notice = load_settings()
    model = args.model or settings.model_dir
    if not model:
        raise ModelError("No model is set: pass --model with a Gemma 4 12B snapshot folder, "
                         "or choose one in Seesay's setup page.")
    return settings, LoadOptions(
        model=model, assistant=args.assistant or settings.assistant_dir,
        use_draft=not getattr(args, "no_draft", False) and settings.use_draft,
        quantization=args.quant or settings.quantization, device=args.device or settings.device,
        context_tokens=settings.context_tokens, cache_dir=paths.quantized_dir(),
    )


def _check(args) -> int:
    from inference import fit, verify
    from inference.locate import force_offline, locate_assistant, locate_model

    force_offline()
    _settings, options = _options(args)
    report = verify.verify_model(locate_model(options.model))
    assistant_dir = locate_assistant(report.path, options.assistant)
    assistant = verify.verify_assistant(assistant_dir, report) if assistant_dir else None
    device = "cpu" if options.device == "auto" else options.device
    if options.device == "auto":
        from inference.device import choose_device

        device = str(choose_device("auto"))
    result = fit.fit_check(report, options.quantization, device, options.context_tokens, assistant)
    print(fit.describe(report, result))
    return EXIT_OK if result.fits else EXIT_MODEL


def _ask(args) -> int:
    from inference.conversation import AudioPart, ImagePart, Turn
    from inference.media import load_audio_file, load_image_file, split_segments, to_mono_16k

    text = " ".join(args.text).strip()
    if not text and not args.media:
        print("seesay: nothing to ask: give a question, --image, --audio or --screen", file=sys.stderr)
        return EXIT_USAGE
    settings, options = _options(args)
    parts = []
    for kind, value in args.media:  # read every input before the model loads: fail fast
        if kind == "image":
            parts.append(ImagePart(load_image_file(value)))
        elif kind == "audio":
            samples, rate = load_audio_file(value)
            split_segments(to_mono_16k(samples, rate), options.max_audio_seconds)  # too long: say so now
            parts.append(AudioPart(samples, rate))
        else:
            parts.append(ImagePart(_screenshot()))
    if text:
        parts.append(text)
    turns = ([Turn.system(settings.system_prompt)] if settings.system_prompt else []) + [Turn.user(*parts)]

    from inference.loader import load_engine  # torch is imported only after every cheap check

    engine = load_engine(options, progress=_progress if args.stats else None)
    from inference.generate import GenerationSettings

    gen = GenerationSettings(
        max_new_tokens=args.max_tokens or settings.max_answer_tokens, temperature=settings.temperature,
        top_p=settings.top_p, top_k=settings.top_k, greedy=args.greedy or settings.temperature <= 0,
        use_draft=options.use_draft, image_detail=args.detail or settings.image_detail,
    )
    stream = engine.stream(turns, gen)
    last = None
    try:
        for last in stream:
            sys.stdout.write(last.text)
            sys.stdout.flush()
    except KeyboardInterrupt:
        engine.cancel()
        stream.close()
        sys.stdout.write("\n")
        sys.stdout.flush()
        print("seesay: cancelled; the partial answer is above", file=sys.stderr)
        return EXIT_CANCELLED
    sys.stdout.write("\n")
    if args.stats and last is not None:
        print(_format_stats(engine, last), file=sys.stderr)
    return EXIT_OK


def _screenshot():
    from app.capture.screen import grab_all

    return grab_all()


def _progress(what: str, fraction: float) -> None:
    print(f"[{fraction:4.0%}] {what}", file=sys.stderr)


def _format_stats(engine, last) -> str:
    s = last.stats
    prompt = ", ".join(f"{n} {kind}" for kind, n in s.prompt_tokens.items() if n)
    lines = [
        f"model: {engine.info.model_name} ({engine.info.quantization}, {engine.info.device}, {engine.info.dtype})",
        f"prompt: {prompt} tokens; prefilled {s.prefilled_tokens}, reused {s.reused_tokens}",
        f"time to first token: {s.time_to_first_token_s:.2f} s; decode: {s.tokens_per_s:.1f} tokens/s "
        f"({s.generated_tokens} tokens, {last.finish_reason})",
        f"peak memory: {s.peak_memory_bytes / 2**30:.2f} GiB",
    ]
    if s.drafted_tokens:
        lines.append(f"drafter: {s.accepted_tokens} of {s.drafted_tokens} drafted tokens accepted")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
