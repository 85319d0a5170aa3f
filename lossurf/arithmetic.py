"""Which CPU kernels decide the last bits of the stored notebook outputs, and pinning them before torch loads.

The committed notebooks were executed with PyTorch's AVX2 kernels, MKL's AVX2 path in its conditional
numerical reproducibility mode, oneDNN's AVX2 instruction set and 2 threads. PyTorch, MKL and oneDNN otherwise
pick the kernels they think best for a CPU (AVX-512 on many laptops and most servers; MKL by vendor too), and
those round differently: a last-bit difference in one training step becomes another printed accuracy, and
Q-learning turns it into a different run. So on every x86-64 CPU with AVX2 (and FMA, which PyTorch's AVX2
kernels need), ``import lossurf`` sets the variables in ``PINS`` before torch is imported, and the stored
outputs are reproduced digit for digit (**strict** mode).

Where those kernels do not exist (ARM: Apple silicon, Linux aarch64; x86 without AVX2) or do not run the
work (a GPU), the digits cannot match: there the tests run in **lesson** mode, which never pins and checks
what does not depend on rounding (see ``lossurf.notebook_checks``). ``LOSSURF_ARITHMETIC=native`` asks for
the machine's own arithmetic anywhere.

This module imports no torch: it must run before torch does.
"""
from __future__ import annotations

import os
import platform
import sys
import warnings
from dataclasses import dataclass, field

REFERENCE_THREADS = 2
# What decides the last bits, and the value the stored outputs were made with.
PINS = {
    "ATEN_CPU_CAPABILITY": "avx2",     # PyTorch's own vectorised kernels (default: the best the CPU has)
    # MKL's conditional numerical reproducibility (CNR): the same results on every CPU that runs the AVX2 path.
    # Without it MKL picks its path by vendor and model (on AMD CPUs another one than on Intel's).
    "MKL_CBWR": "AVX2",
    "ONEDNN_MAX_CPU_ISA": "AVX2",      # oneDNN (mkldnn) convolutions and matmuls
    "DNNL_MAX_CPU_ISA": "AVX2",        # the same for oneDNN builds that read the older name
    "OMP_NUM_THREADS": str(REFERENCE_THREADS),   # how a reduction is split over threads changes its sum
    "MKL_NUM_THREADS": str(REFERENCE_THREADS),
}
REFERENCE_FLAGS = ("avx2", "fma")      # PyTorch runs its AVX2 kernels only where both exist
ENV_SWITCH = "LOSSURF_ARITHMETIC"      # "reference" (pin where possible, the default) or "native" (never pin)
X86 = ("x86_64", "amd64", "x64", "i386", "i686", "x86")


@dataclass(frozen=True)
class Machine:
    """What decides the mode: the processor architecture, its instruction-set flags, and whether a GPU runs the work."""
    arch: str
    flags: frozenset = field(default_factory=frozenset)
    gpu: bool = False


@dataclass(frozen=True)
class Mode:
    """``strict`` (pins applied, outputs compared digit for digit) or ``lessons`` (native arithmetic, verdicts compared)."""
    name: str
    reason: str
    pins: dict


def choose_mode(machine: Machine, requested: str | None = None) -> Mode:
    """The mode for ``machine``. ``requested``: None / "auto" / "reference" (strict where the reference holds),
    "lessons" / "native" (never pin), or "strict" (pin and compare digits even where they cannot match)."""
    requested = (requested or "auto").strip().lower()
    if requested not in ("auto", "reference", "strict", "lessons", "native"):
        raise ValueError(f"{ENV_SWITCH}={requested!r}: use 'reference' (pin the reference arithmetic where the CPU "
                         "has it) or 'native' (this machine's own kernels)")
    if requested in ("lessons", "native"):
        return Mode("lessons", "asked for (this machine's own arithmetic, never pinned)", {})
    arch = machine.arch.strip().lower()
    missing = [f for f in REFERENCE_FLAGS if f not in machine.flags]
    if arch not in X86:
        why = f"{machine.arch} CPU: PyTorch's AVX2 kernels, which made the stored outputs, do not exist here"
    elif missing:
        why = f"x86 CPU without {' and '.join(m.upper() for m in missing)}: the AVX2 kernels cannot run here"
    elif machine.gpu:
        why = "a GPU runs the notebooks: its kernels round differently from the CPU reference"
    else:
        extra = " (its AVX-512 kernels are switched off)" if "avx512f" in machine.flags else ""
        return Mode("strict", f"x86-64 CPU with AVX2{extra}: reference arithmetic pinned", dict(PINS))
    if requested == "strict":
        return Mode("strict", f"asked for, although {why}: digits may differ", dict(PINS))
    return Mode("lessons", why, {})


def cpu_flags() -> frozenset:
    """This CPU's instruction-set flags in lower case (``avx2``, ``fma``, ``avx512f``, ...), from numpy's
    dispatch table (every OS), else Linux's /proc/cpuinfo; empty when neither says."""
    try:
        from numpy._core._multiarray_umath import __cpu_features__ as features
    except ImportError:                                   # numpy < 2
        try:
            from numpy.core._multiarray_umath import __cpu_features__ as features
        except ImportError:
            features = None
    if features:
        names = {"FMA3": "fma", "AVX512F": "avx512f"}
        return frozenset(names.get(k, k.lower()) for k, on in features.items() if on)
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    return frozenset(line.split(":", 1)[1].split())
    except OSError:
        pass
    return frozenset()


def this_machine(gpu: bool = False) -> Machine:
    """This machine as ``choose_mode`` sees it (``gpu``: whether a GPU will run the work; torch tells, later)."""
    return Machine(platform.machine() or "unknown", cpu_flags(), gpu)


def apply(mode: Mode, env=None) -> dict:
    """Write ``mode.pins`` into ``env`` (default ``os.environ``); return the values they replaced (None: unset)."""
    env = os.environ if env is None else env
    before = {k: env.get(k) for k in mode.pins}
    env.update(mode.pins)
    return before


def restore(before: dict, env=None) -> None:
    """Undo ``apply``: put back the values it replaced."""
    env = os.environ if env is None else env
    for k, v in before.items():
        if v is None:
            env.pop(k, None)
        else:
            env[k] = v


def overridden(before: dict, mode: Mode) -> list[str]:
    """``NAME=old`` for each variable the user had set to another value than the pin."""
    return [f"{k}={v}" for k, v in before.items() if v is not None and v != mode.pins[k]]


_current: Mode | None = None


def pin_reference() -> Mode:
    """Called by ``import lossurf`` before it imports torch: pin the reference arithmetic where the CPU has it,
    unless ``LOSSURF_ARITHMETIC=native``. Warns when torch was imported first (then the pin may come too late)."""
    global _current
    if _current is not None:
        return _current
    mode = choose_mode(this_machine(), os.environ.get(ENV_SWITCH))
    torch_first = "torch" in sys.modules
    apply(mode)
    _current = mode
    if mode.pins and torch_first:
        import torch
        if torch.backends.cpu.get_cpu_capability() != "AVX2":
            warnings.warn("torch was imported before lossurf, so it runs its "
                          f"{torch.backends.cpu.get_cpu_capability()} kernels, not the AVX2 ones the stored outputs "
                          "were made with: numbers may differ in the last digits. Restart the kernel and "
                          "`import lossurf` before torch.", stacklevel=3)
    return mode


def current() -> Mode | None:
    """The mode ``import lossurf`` chose in this process (None before)."""
    return _current
