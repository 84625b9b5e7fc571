"""What hardware is this, and how should we train on it? (introduced in 00_setup)

``detect()`` looks at the machine once and returns a :class:`DeviceInfo`: the device kind (cuda,
mps, cpu), its name and memory, the precision to train in and a batch size that fits a MiniLM-size
model. A CPU with native bfloat16 units (x86 AVX512-BF16 or AMX, Arm's BF16 extension) trains in
bf16, about 1.5x faster on this workbook's AMD EPYC; other CPUs train in fp32, where bf16 would be
emulated and slower. Evaluation always encodes in fp32, so scores compare across machines. ``from_specs()`` builds the same advice from plain facts, so the rules can be tested without
the hardware (a T4, an A100, an Apple GPU, a CPU-only laptop). ``DeviceInfo.precision`` is the
workbook's one precision rule: training (``helpers.training``) and the cost model
(``helpers.costs``) read it. ``gpu("T4")`` gives the advice for a GPU this machine does not have.
"""
from __future__ import annotations

import os
import sys
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from typing import Literal

    Kind = Literal["cuda", "mps", "cpu"]
    """A device kind, as torch names it."""


@dataclass(frozen=True)
class DeviceInfo:
    """What :func:`detect` and :func:`from_specs` return: the device and how to train on it."""
    kind: Kind                     # "cuda", "mps" or "cpu"
    name: str                      # e.g. "Tesla T4", "Apple MPS", "CPU (x86_64)"
    memory_gb: float | None        # accelerator memory; None on CPU
    compute_capability: tuple[int, int] | None
    fp16: bool                     # mixed precision with float16 is worth using
    bf16: bool                     # bfloat16 in hardware (Ampere and newer; CPUs with bf16 units)
    precision: str                 # what to train in: "bf16", "fp16" or "fp32"
    batch_size: int                # a batch size that fits all-MiniLM-L6-v2 training comfortably
    cpu_cores: int
    is_colab: bool

    @property
    def torch_device(self) -> str:
        """The device name torch takes (``kind``)."""
        return self.kind

    def summary(self) -> str:
        """One line, e.g. ``Tesla T4 (cuda, 15 GB, cc 7.5) · fp16 · batch 128 · 2 CPU cores``."""
        bits = [self.kind]
        if self.kind == "cpu" and self.bf16:
            bits.append("bf16 units")
        if self.memory_gb:
            bits.append(f"{self.memory_gb:.0f} GB")
        if self.compute_capability:
            bits.append("cc {}.{}".format(*self.compute_capability))
        colab = " · Colab" if self.is_colab else ""
        return (f"{self.name} ({', '.join(bits)}) · {self.precision} · batch {self.batch_size} · "
                f"{self.cpu_cores} CPU cores{colab}")

    def advice(self) -> str:
        """A sentence or two a learner can act on."""
        if self.kind == "cuda":
            mem = f", {self.memory_gb:.0f} GB" if self.memory_gb else ""
            extra = ("" if self.bf16 or self.fp16 else
                     " This GPU has no fast half precision: training runs in fp32.")
            return (f"{self.name}{mem}: {self.precision}, batch {self.batch_size}. The gpu profile "
                    f"trains on the full data with more epochs.{extra}")
        if self.kind == "mps":
            return (f"Apple GPU (MPS): fp32, batch {self.batch_size}. Faster than the CPU; the cpu "
                    "profile keeps each lesson to minutes, the gpu profile is worth a try.")
        units = ("it has bfloat16 units, so training runs in bf16 (faster, same quality)"
                 if self.bf16 else "no bfloat16 units, so training runs in fp32")
        return (f"CPU only ({self.cpu_cores} cores): {units}, batch {self.batch_size}. The cpu "
                "profile keeps each lesson to minutes; a free Colab T4 runs the gpu profile.")

    def as_dict(self) -> dict[str, Any]:
        """The fields as a plain dict."""
        return asdict(self)


def is_colab() -> bool:
    """Whether this runs in Google Colab."""
    return "google.colab" in sys.modules or "COLAB_RELEASE_TAG" in os.environ


def from_specs(kind: str, name: str | None = None, memory_gb: float | None = None,
               compute_capability: tuple[int, int] | None = None, cpu_cores: int | None = None,
               colab: bool = False, cpu_bf16: bool = False) -> DeviceInfo:
    """The advice for a device described by plain facts (used by :func:`detect` and the tests).

    Rules: bf16 needs compute capability 8.0 (Ampere) or newer; fp16 mixed precision pays off from
    7.0 (Volta/Turing: V100, T4); older GPUs and Apple's MPS train in fp32; a CPU trains in bf16
    when it has native bfloat16 units (``cpu_bf16``, see :func:`cpu_has_bf16`), else in fp32. The
    batch size grows with memory: in-batch-negative losses (MNRL) learn more from bigger batches.
    """
    kind = kind.lower()
    cores = cpu_cores or os.cpu_count() or 1
    if kind == "cuda":
        cc = tuple(compute_capability) if compute_capability else None
        bf16 = bool(cc and cc >= (8, 0))
        fp16 = bool(cc and cc >= (7, 0))
        precision = "bf16" if bf16 else ("fp16" if fp16 else "fp32")
        mem = memory_gb or 0
        batch = 256 if mem >= 30 else 128 if mem >= 10 else 64 if mem >= 6 else 32
        return DeviceInfo("cuda", name or "CUDA GPU", memory_gb, cc, fp16, bf16, precision, batch,
                          cores, colab)
    if kind == "mps":
        return DeviceInfo("mps", name or "Apple MPS", memory_gb, None, False, False, "fp32", 64,
                          cores, colab)
    if kind == "cpu":
        import platform
        return DeviceInfo("cpu", name or f"CPU ({platform.machine() or 'unknown'})", None, None,
                          False, bool(cpu_bf16), "bf16" if cpu_bf16 else "fp32", 32, cores, colab)
    raise ValueError(f"Unknown device kind {kind!r}: expected 'cuda', 'mps' or 'cpu'.")


GPUS = {
    # name: (memory in GB, compute capability), for advice about GPUs this machine does not have
    "T4": (15.0, (7, 5)),
    "A100": (40.0, (8, 0)),
    "H200": (141.0, (9, 0)),
}


def gpu(name: str) -> DeviceInfo:
    """The advice for one of the GPUs in :data:`GPUS` (e.g. ``gpu("T4").precision`` is "fp16";
    introduced in 07_when_to_fine_tune)."""
    if name not in GPUS:
        raise ValueError(f"Unknown GPU {name!r}: known are {', '.join(GPUS)}.")
    memory, cc = GPUS[name]
    return from_specs("cuda", name, memory, cc)


_CACHED: DeviceInfo | None = None


def detect(refresh: bool = False) -> DeviceInfo:
    """Look at this machine (once; ``refresh=True`` looks again)."""
    global _CACHED
    if _CACHED is not None and not refresh:
        return _CACHED
    import torch

    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    if torch.cuda.is_available():
        props = torch.cuda.get_device_properties(0)
        info = from_specs("cuda", props.name, props.total_memory / 1024**3,
                          (props.major, props.minor), cores, is_colab())
    elif getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        info = from_specs("mps", "Apple MPS", None, None, cores, is_colab())
    else:
        info = from_specs("cpu", _cpu_name(), None, None, cores, is_colab(), cpu_has_bf16())
    _CACHED = info
    return info


def gpu_count() -> int:
    """How many CUDA GPUs torch sees here (0 without CUDA): the one count the training launcher,
    the distributed runs and multi-process encoding go by."""
    import torch

    return torch.cuda.device_count() if torch.cuda.is_available() else 0


def _cpu_name() -> str:
    import platform
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return "CPU: " + " ".join(line.split(":", 1)[1].split())
    except OSError:
        pass
    return f"CPU ({platform.processor() or platform.machine() or 'unknown'})"


# CPU feature flags (Linux /proc/cpuinfo) that mean bfloat16 arithmetic in hardware: x86's
# AVX512-BF16 and AMX-BF16, Arm's BF16 extension ("bf16" in the Features line).
BF16_FLAGS = ("avx512_bf16", "amx_bf16", "bf16")


def cpu_flags(cpuinfo: str | None = None) -> set[str]:
    """The CPU's feature flags from ``/proc/cpuinfo`` (or the given text); empty where unknown."""
    if cpuinfo is None:
        try:
            with open("/proc/cpuinfo", encoding="utf-8") as fh:
                cpuinfo = fh.read()
        except OSError:
            return set()
    flags: set[str] = set()
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        if key.strip().lower() in ("flags", "features"):
            flags.update(value.split())
    return flags


def cpu_has_bf16(flags: set[str] | None = None, onednn_bf16: bool | None = None) -> bool:
    """Whether this CPU computes in bfloat16 natively, so bf16 training pays off.

    Both must hold: a native flag (:data:`BF16_FLAGS`; AVX-512 alone only emulates bf16, which is
    slower than fp32), and PyTorch's oneDNN saying it can run bf16 here (``onednn_bf16``, asked of
    torch when not given). ``WORKBOOK_CPU_BF16=0`` (or ``1``) overrides the answer, e.g. to get fp32
    numbers that match a machine without such units.
    """
    forced = os.environ.get("WORKBOOK_CPU_BF16", "").strip()
    if forced in ("0", "1"):
        return forced == "1"
    flags = cpu_flags() if flags is None else flags
    if not any(flag in flags for flag in BF16_FLAGS):
        return False
    if onednn_bf16 is None:
        try:
            import torch
            onednn_bf16 = bool(torch.backends.mkldnn.is_available()
                               and torch.ops.mkldnn._is_mkldnn_bf16_supported())
        except Exception:  # an old or unusual torch build: stay with fp32
            onednn_bf16 = False
    return bool(onednn_bf16)
