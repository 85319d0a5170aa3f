"""Which machine gets which test mode, what gets pinned, and that the pin reaches torch before its kernels run."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

from lossurf import arithmetic
from lossurf.arithmetic import Machine, choose_mode

ROOT = Path(__file__).resolve().parents[1]
AVX2 = frozenset({"sse4_2", "avx", "avx2", "fma"})
AVX512 = AVX2 | {"avx512f", "avx512bw", "avx512vl"}


@pytest.mark.parametrize("machine, mode", [
    (Machine("x86_64", AVX2), "strict"),                       # the reference machine
    (Machine("x86_64", AVX512), "strict"),                     # AVX-512 laptops and servers: pinned down to AVX2
    (Machine("AMD64", AVX512), "strict"),                      # Windows spells x86-64 this way
    (Machine("x86_64", frozenset({"sse4_2", "avx"})), "lessons"),   # no AVX2
    (Machine("x86_64", frozenset({"avx", "avx2"})), "lessons"),     # AVX2 without FMA: PyTorch skips its AVX2 kernels
    (Machine("arm64", frozenset({"neon", "asimd"})), "lessons"),    # Apple silicon
    (Machine("aarch64", frozenset({"asimd"})), "lessons"),          # Linux ARM
    (Machine("x86_64", AVX512, gpu=True), "lessons"),          # the notebooks' kernels run on the GPU
])
def test_mode_by_machine(machine, mode):
    chosen = choose_mode(machine)
    assert chosen.name == mode
    assert bool(chosen.pins) == (mode == "strict")             # lesson mode never pins


def test_strict_pins_every_source_of_last_bits():
    pins = choose_mode(Machine("x86_64", AVX512)).pins
    assert pins["ATEN_CPU_CAPABILITY"] == "avx2"               # PyTorch's CPU capability
    assert pins["MKL_CBWR"] == "AVX2"                    # MKL's conditional numerical reproducibility
    assert pins["ONEDNN_MAX_CPU_ISA"] == "AVX2"                # oneDNN's instruction set
    assert pins["OMP_NUM_THREADS"] == pins["MKL_NUM_THREADS"] == "2"
    assert "AVX-512" in choose_mode(Machine("x86_64", AVX512)).reason
    assert "AVX-512" not in choose_mode(Machine("x86_64", AVX2)).reason


def test_requests_override_the_machine():
    assert choose_mode(Machine("x86_64", AVX2), "native").name == "lessons"
    assert choose_mode(Machine("x86_64", AVX2), "lessons").pins == {}
    forced = choose_mode(Machine("arm64", frozenset()), "strict")
    assert forced.name == "strict" and forced.pins and "may differ" in forced.reason
    assert choose_mode(Machine("arm64", frozenset()), "reference").name == "lessons"
    with pytest.raises(ValueError, match="'reference'.*'native'"):
        choose_mode(Machine("x86_64", AVX2), "fast")


def test_apply_and_restore_leave_the_environment_as_it_was():
    env = {"ATEN_CPU_CAPABILITY": "default", "OTHER": "1"}
    mode = choose_mode(Machine("x86_64", AVX2))
    before = arithmetic.apply(mode, env)
    assert env["ATEN_CPU_CAPABILITY"] == "avx2" and env["MKL_CBWR"] == "AVX2"
    assert arithmetic.overridden(before, mode) == ["ATEN_CPU_CAPABILITY=default"]
    arithmetic.restore(before, env)
    assert env == {"ATEN_CPU_CAPABILITY": "default", "OTHER": "1"}


def test_this_machine_reads_the_cpu_flags():
    machine = arithmetic.this_machine()
    assert machine.arch
    if machine.arch.lower() in arithmetic.X86:
        assert "sse2" in machine.flags                          # every x86-64 CPU has SSE2


def _python(code: str, **env) -> subprocess.CompletedProcess:
    full = {k: v for k, v in os.environ.items() if k not in arithmetic.PINS and k != arithmetic.ENV_SWITCH}
    full.update(env)
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, env=full,
                          timeout=120)


REFERENCE = choose_mode(arithmetic.this_machine()).name == "strict"


@pytest.mark.skipif(not REFERENCE, reason="this CPU has no AVX2 kernels to pin")
def test_import_lossurf_pins_before_torch_runs_a_kernel():
    # another capability asked for by the environment; the import pins the reference over it
    done = _python("import lossurf, torch, os; torch.ones(3).exp(); "
                   "print(torch.backends.cpu.get_cpu_capability(), os.environ['MKL_CBWR'], torch.get_num_threads())",
                   ATEN_CPU_CAPABILITY="default")
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["AVX2", "AVX2", "2"]


def test_native_leaves_the_machine_its_own_kernels():
    done = _python("import lossurf, torch, os; torch.ones(3).exp(); "
                   "print(torch.backends.cpu.get_cpu_capability(), os.environ.get('MKL_CBWR'))",
                   ATEN_CPU_CAPABILITY="default", LOSSURF_ARITHMETIC="native")
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["DEFAULT", "None"]


@pytest.mark.skipif(not REFERENCE, reason="this CPU has no AVX2 kernels to pin")
def test_torch_imported_first_and_used_is_warned_about():
    done = _python("import torch; torch.ones(3).exp(); import lossurf", ATEN_CPU_CAPABILITY="default")
    assert done.returncode == 0, done.stderr
    assert "imported before lossurf" in done.stderr and "DEFAULT kernels" in done.stderr
