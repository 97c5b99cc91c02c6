"""Cross-compile C for a microcontroller CPU the way firmware is built, with the shipped bare-metal harness.

``<gcc> -Os -ffunction-sections -fdata-sections`` with the CPU's flags (:class:`~.arch.Arch`), linked with
``--gc-sections`` against the CPU's small C library (newlib-nano on Arm, picolibc on RISC-V), the harness
start-up code and linker script (``harness/common`` + ``harness/<arch.harness>``). Images are cached by
content hash under the user cache dir (``$MICROLEARN_CACHE_DIR`` overrides it), next to the host libraries.
"""

from __future__ import annotations

import functools
import json
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from microlearn import host, progress
from microlearn.errors import CompileError, InvalidInputError, ModelTooLargeError, ToolchainError
from microlearn.targets.mcu.arch import Arch, get_arch

HARNESS_ROOT = Path(__file__).parent.parent / "harness"
COMMON_HARNESS = HARNESS_ROOT / "common"

GLUE_FILE = "ml_bench_glue.c"
GLUE_OBJECT = "ml_bench_glue.o"
HARNESS_SOURCES = (
    "ml_bench_startup.c",
    "ml_bench_main.c",
    "ml_bench_semihost.c",
    "ml_bench.h",
    "ml_bench_arch.h",
)
HARNESS_OBJECTS = ("ml_bench_startup.o", "ml_bench_main.o", "ml_bench_semihost.o", "ml_bench_rows.o")

COMMON_CFLAGS = (
    "-std=c99",
    "-Os",
    "-ffunction-sections",
    "-fdata-sections",
    "-Wall",
    "-Wextra",
    "-fstack-usage",
)
# C++ sources (a contender that generates a C++ class): the C flags in C++ terms, without the runtime
# that a bare-metal image does not link (exceptions, RTTI, thread-safe statics)
CXXFLAGS = (
    "-std=c++11",
    *(f for f in COMMON_CFLAGS if f != "-std=c99"),
    "-fno-exceptions",
    "-fno-rtti",
    "-fno-threadsafe-statics",
)
LDFLAGS = ("-nostartfiles", "-Wl,--gc-sections")


def harness_dir(arch: Arch) -> Path:
    return HARNESS_ROOT / arch.harness


def find_gcc(arch: Arch) -> str:
    """The CPU's cross compiler, checked to find the C library its flags name (``--specs=...``)."""
    path = shutil.which(arch.gcc)
    if path is None:
        raise ToolchainError(
            f"{arch.gcc} not found: install the {arch.name} bare-metal toolchain "
            f"(Debian/Ubuntu: apt-get install {arch.apt_packages}) or run scripts/setup.sh"
        )
    missing = _missing_specs(
        path, tuple(f for f in (*arch.cflags, *arch.ldflags) if f.startswith("--specs="))
    )
    if missing:
        raise ToolchainError(
            f"{arch.gcc} cannot find {', '.join(missing)}: install the {arch.name} C library "
            f"(Debian/Ubuntu: apt-get install {arch.apt_packages}) or run scripts/setup.sh"
        )
    return path


@functools.lru_cache(maxsize=8)
def _missing_specs(gcc: str, flags: tuple[str, ...]) -> list[str]:
    missing = []
    for flag in flags:
        name = flag.split("=", 1)[1]
        res = subprocess.run([gcc, f"-print-file-name={name}"], capture_output=True, text=True, check=False)
        if not Path(res.stdout.strip()).is_absolute():  # gcc echoes the bare name when it has no such file
            missing.append(name)
    return missing


def toolchain_missing(arch: Arch) -> str | None:
    """None when ``arch`` can be built and emulated here, else what to install."""
    try:
        find_gcc(arch)
        __import__("unicorn")
        __import__("elftools")
    except ToolchainError as e:
        return str(e)
    except ImportError:
        return "the Python packages unicorn and pyelftools are needed (pip install unicorn pyelftools)"
    return None


@functools.lru_cache(maxsize=4)
def _gcc_identity(gcc: str) -> str:
    out = subprocess.run([gcc, "--version"], capture_output=True, text=True, check=False)
    return out.stdout.splitlines()[0] if out.stdout else gcc


def targets_cache_dir() -> Path:
    path = host.cache_dir().parent / "targets"
    path.mkdir(parents=True, exist_ok=True)
    return path


@dataclass(frozen=True)
class ObjectSizes:
    text: int = 0
    rodata: int = 0
    data: int = 0
    bss: int = 0

    @property
    def flash(self) -> int:
        return self.text + self.rodata + self.data

    @property
    def ram(self) -> int:
        return self.data + self.bss


@dataclass
class Image:
    """A linked ELF and what the build said about it."""

    arch: Arch
    elf: Path
    map_file: Path
    objects: dict[str, ObjectSizes]  # per input object (archive members as "libc_nano.a(lib_a-memcpy.o)")
    members: list[str]  # archive members the linker pulled in
    stack_usage: dict[str, int]  # function -> static frame bytes (-fstack-usage), glue and user objects
    section_flash: int  # bytes the image occupies in flash (all loaded sections)
    section_ram: int  # .data + .bss
    extra: dict[str, object] = field(default_factory=dict)


def _runtime_headers() -> list[str]:
    return [f"{h.name}\0{h.read_text()}" for h in sorted(host.RUNTIME_C_DIR.glob("*.h"))]


def _harness_files(arch: Arch) -> list[str]:
    return [
        f"{d.name}/{p.name}\0{p.read_text()}"
        for d in (COMMON_HARNESS, harness_dir(arch))
        for p in sorted(d.iterdir())
        if p.is_file()
    ]


def build_image(
    sources: Mapping[str, str],
    glue: str,
    arch: str | Arch,
    *,
    main: str = "ml_bench_main.c",
    ldscript: str = "ml_bench.ld",
    include_dirs: Sequence[str | Path] = (),
    cflags: Sequence[str] = (),
) -> Image:
    """Compile ``sources`` (file name -> text; ``.c`` and ``.cpp`` files are compiled, the rest are headers)
    and ``glue`` (C text defining ``void ml_bench_entry(const void *in, void *out)``) with the harness into
    an ELF for ``arch``. ``main`` names the harness main (``ml_bench_semihost.c`` for QEMU), ``ldscript`` the
    harness memory map (``ml_bench.ld``; ``arch.qemu.ldscript`` for QEMU). Cached."""
    c = get_arch(arch)
    gcc = find_gcc(c)
    taken = [n for n in sources if n in (GLUE_FILE, *HARNESS_SOURCES)]
    if taken:
        raise InvalidInputError(f"source names {taken} are the harness's; rename those sources")
    incs = [str(host.RUNTIME_C_DIR), *(str(d) for d in include_dirs)]
    extra_headers = [
        f"{h}\0{h.read_text()}" for d in include_dirs for h in sorted(Path(d).glob("*.h")) if Path(d).is_dir()
    ]
    key = host.content_key(
        "mcuimage-2",
        *(("c++", *CXXFLAGS) if any(n.endswith(".cpp") for n in sources) else ()),
        _gcc_identity(gcc),
        c.name,
        "\0".join(c.cflags),
        "\0".join(c.ldflags),
        "\0".join(cflags),
        main,
        ldscript,
        "\0".join(incs),
        *_harness_files(c),
        *_runtime_headers(),
        *extra_headers,
        glue,
        *(f"{n}\0{t}" for n, t in sorted(sources.items())),
    )
    out = targets_cache_dir() / key
    if not (out / "info.json").exists():
        kb = sum(len(t) for t in sources.values()) // 1024
        with progress.busy(f"compiling {kb:,} kB of C for {c.name}"):
            _build_into(out, gcc, c, sources, glue, main, ldscript, incs, cflags)
    return _load_image(c, out)


def _build_into(
    out: Path,
    gcc: str,
    arch: Arch,
    sources: Mapping[str, str],
    glue: str,
    main: str,
    ldscript: str,
    incs: Sequence[str],
    cflags: Sequence[str],
) -> None:
    hdir = harness_dir(arch)
    with tempfile.TemporaryDirectory(prefix="microlearn-mcu-") as tmp:
        t = Path(tmp)
        for name, text in sources.items():
            (t / name).write_text(text)
        (t / GLUE_FILE).write_text(glue)
        c_files = [n for n in sorted(sources) if n.endswith(".c")] + [GLUE_FILE]
        harness_c = [str(hdir / "ml_bench_startup.c"), str(COMMON_HARNESS / main)]
        inc_flags = [f"-I{t}", f"-I{hdir}", f"-I{COMMON_HARNESS}", *(f"-I{d}" for d in incs)]
        flags = [*COMMON_CFLAGS, *arch.cflags, *cflags]
        cmd = [gcc, *flags, *inc_flags, "-c", *c_files, *harness_c]
        _run(cmd, t, "compiling for " + arch.name)
        cpp_files = [n for n in sorted(sources) if n.endswith(".cpp")]
        if cpp_files:
            cmd = [gcc, *CXXFLAGS, *arch.cflags, *cflags, *inc_flags, "-c", *cpp_files]
            _run(cmd, t, "compiling C++ for " + arch.name)
        c_files += cpp_files
        objs = [Path(f).with_suffix(".o").name for f in c_files + harness_c]
        cmd = [
            gcc,
            *arch.cflags,
            *arch.ldflags,
            *LDFLAGS,
            f"-L{hdir}",
            f"-L{COMMON_HARNESS}",
            f"-T{hdir / ldscript}",
            "-Wl,-Map=image.map",
            "-o",
            "image.elf",
            *objs,
            *arch.libs,
        ]
        _run(cmd, t, "linking for " + arch.name, arch)
        stack: dict[str, int] = {}
        for f in c_files:
            su = t / Path(f).with_suffix(".su").name
            if su.exists():
                stack.update(_parse_su(su.read_text()))
        staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=out.parent))
        shutil.copyfile(t / "image.elf", staging / "image.elf")
        shutil.copyfile(t / "image.map", staging / "image.map")
        (staging / "info.json").write_text(json.dumps({"stack_usage": stack}, sort_keys=True))
        try:
            os.replace(staging, out)  # atomic: parallel workers never see half an image
        except OSError:
            shutil.rmtree(staging, ignore_errors=True)  # another worker built it first
            if not (out / "info.json").exists():
                raise


# GNU ld: "region `FLASH' overflowed by 123456 bytes" / "will not fit in region `RAM'"
_OVERFLOW = re.compile(r"region `?'?(\w+)'? overflowed by (\d+) bytes")
_NOT_FIT = re.compile(r"will not fit in region `?'?(\w+)'?")


def overflow_error(arch: Arch, output: str) -> ModelTooLargeError | None:
    """The one-line error for a linker's region overflow in ``output`` (None if there is none)."""
    over: dict[str, int] = {}
    for region, n in _OVERFLOW.findall(output):
        over[region] = max(over.get(region, 0), int(n))
    for region in _NOT_FIT.findall(output):
        over.setdefault(region, 0)
    if not over:
        return None
    sizes = {"FLASH": arch.flash[1], "RAM": arch.ram[1]}
    parts = []
    for region, n in sorted(over.items()):
        limit = sizes.get(region)
        have = f" of {arch.name}'s {limit // 1024:,} KiB" if limit else ""
        by = f" by {n:,} bytes" if n else ""
        parts.append(f"{region.lower() if region in sizes else region}{have} overflowed{by}")
    return ModelTooLargeError(
        f"the model does not fit: {'; '.join(parts)}. Use a smaller model (fewer or shallower trees), "
        "a smaller method (see `microlearn methods`; estimates: Model.estimate(target)) or a target "
        "with more memory"
    )


def _run(cmd: list[str], cwd: Path, what: str, arch: Arch | None = None) -> None:
    res = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, check=False)
    if res.returncode != 0:
        err = overflow_error(arch, res.stderr + res.stdout) if arch is not None else None
        if err is not None:
            raise err
        raise CompileError(f"{what} failed:\n$ {' '.join(cmd)}\n{res.stderr}{res.stdout}")


def _parse_su(text: str) -> dict[str, int]:
    """``file:line:col:function<TAB>bytes<TAB>static`` lines -> {function: bytes}."""
    out: dict[str, int] = {}
    for line in text.splitlines():
        parts = line.split("\t")
        if len(parts) >= 2 and parts[1].strip().isdigit():
            out[parts[0].rsplit(":", 1)[-1]] = int(parts[1])
    return out


def _load_image(arch: Arch, out: Path) -> Image:
    from elftools.elf.constants import SH_FLAGS
    from elftools.elf.elffile import ELFFile

    info = json.loads((out / "info.json").read_text())
    objects, members = parse_map((out / "image.map").read_text())
    flash = ram = 0
    with open(out / "image.elf", "rb") as f:
        elf = ELFFile(f)
        for s in elf.iter_sections():
            if not s["sh_flags"] & SH_FLAGS.SHF_ALLOC or s["sh_size"] == 0:
                continue
            if s["sh_type"] != "SHT_NOBITS":
                flash += s["sh_size"]
            if arch.ram[0] <= s["sh_addr"] < arch.ram[0] + arch.ram[1]:
                ram += s["sh_size"]
    return Image(
        arch=arch,
        elf=out / "image.elf",
        map_file=out / "image.map",
        objects=objects,
        members=members,
        stack_usage={k: int(v) for k, v in info["stack_usage"].items()},
        section_flash=flash,
        section_ram=ram,
    )


_SECTION_LINE = re.compile(r"^ (\.[\w.$]+|COMMON)?\s+0x([0-9a-f]+)\s+0x([0-9a-f]+)\s+(\S.*)$")
_NAME_ONLY = re.compile(r"^ (\.[\w.$]+|COMMON)\s*$")


def _object_name(path: str) -> str:
    path = path.strip()
    m = re.match(r"^(.*\.a)\((.*)\)$", path)
    if m:
        return f"{Path(m.group(1)).name}({m.group(2)})"
    return Path(path).name


def _kind(section: str, output: str) -> str | None:
    if output == ".bss" or section.startswith((".bss", ".sbss", "COMMON", ".scommon")):
        return "bss"
    if output == ".data" or section.startswith((".data", ".sdata")):
        return "data"
    if section.startswith((".rodata", ".srodata")) or output == ".rodata":
        return "rodata"
    if output in (".text", ".ARM.exidx", ".ARM.extab", ".init_array", ".fini_array", ".preinit_array"):
        return "text"
    return None


def parse_map(text: str) -> tuple[dict[str, ObjectSizes], list[str]]:
    """From a GNU ld map: sizes of the kept input sections per object, and the archive members pulled in."""
    members: list[str] = []
    if "Archive member included" in text:
        block = text.split("Archive member included", 1)[1].split("\n\n", 2)
        body = block[1] if len(block) > 1 else ""
        for line in body.splitlines():
            if line and not line[0].isspace():
                members.append(_object_name(line))
    body = text.split("Linker script and memory map", 1)[-1]
    sizes: dict[str, dict[str, int]] = {}
    output = ""
    pending: str | None = None
    for line in body.splitlines():
        if line.startswith("."):
            output = line.split()[0]
            continue
        m = _SECTION_LINE.match(line)
        if m:
            name = m.group(1) or pending or ""
            pending = None
            size = int(m.group(3), 16)
            where = m.group(4)
            if size == 0 or where.startswith(("load address", "*fill*")) or not name:
                continue
            kind = _kind(name, output)
            if kind is None:
                continue
            d = sizes.setdefault(_object_name(where), {})
            d[kind] = d.get(kind, 0) + size
            continue
        n = _NAME_ONLY.match(line)
        pending = n.group(1) if n else None
    objects = {k: ObjectSizes(**v) for k, v in sizes.items()}
    return objects, members
