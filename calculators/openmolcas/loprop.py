"""OpenMolcas KS-DFT + LoProp: the production source of the ligand proxy labels.

The paper (Methods, "LoProp evaluation") labels each free ligand with the LoProp properties of
its coordinating atom: net charge, dipole magnitude and isotropic polarizability (plus the
atomic number), from OpenMolcas PBE / ANO-R2. This module writes that job, parses the LoProp
"Localized properties" block and returns those values in atomic units (e, e*bohr, bohr^3).

Program facts it relies on, checked against real OpenMolcas 22.10 runs made here (see
docs/openmolcas.md and tests/fixtures/openmolcas/README.md):

* ``&GATEWAY Coord=<xyz>, Basis=ANO-R2, Group=C1, RICD`` / ``&SEWARD`` / ``&SCF KSDFT=PBE,
  Charge=Q`` / ``&LOPROP`` runs and reproduces published ligands (benchmarks/loprop_published.py).
  ``ANO-R2`` is a valid basis alias in 22.10.
* ``RICD`` (and ``RX2C``, if asked for) are GATEWAY keywords: under ``&SEWARD`` the run stops
  with "Seward input error!". Without RI/Cholesky an 8-heavy-atom ligand spends ~9 min in SEWARD.
* ``Group = C1``: LoProp silently skips polarizabilities when symmetry is used (polar.F90), and
  with C1 the geometry is not moved (gateway.rst), so the n-th ATOMIC DOMAIN is the n-th atom of
  the xyz file. The parser checks this (element and centre of every atomic domain).
* The kept dipole is the atomic dipole *with* its nuclear contribution about the expansion
  centre (the physical one). OpenMolcas' "Dipole magnitude" line is the norm of the electronic
  part only (print_local.F90); the two agree whenever the expansion centre is the nucleus, as in
  the default run.
* An SCF that does not converge prints "No convergence after N Iterations" and the driver stops
  before LoProp (rc ``_RC_NOT_CONVERGED_``): a chemistry failure naming that cause.
"""

from __future__ import annotations

import json
import math
import re
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from ase.data import atomic_numbers
from ase.units import Bohr, Debye

from calculators import xyz as xyz_file
from calculators.base import (
    CalcResult,
    CalculationFailed,
    Launcher,
    SubprocessLauncher,
    run_program,
)
from calculators.openmolcas.program import (
    ENV_PROGRAM,
    PROGRAM,
    MolcasResources,
    installed_versions,
    molcas_command,
    openmolcas_label,
    program_versions,
)
from calculators.values import PROXY_UNITS

BOHR_PER_ANGSTROM = 1.0 / Bohr
DEBYE_PER_AU = Bohr / Debye  # 1 e*bohr in debye
UNITS = PROXY_UNITS | {
    "dipole_debye": "D",
    "atom_charges": "e",
    "atom_dipoles": "e*bohr",
    "atom_polarizabilities": "bohr^3",
}

_PROJECT = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")
_CONTRACTION = re.compile(r"(?:\d+[spdfghi])+")
_NUMBER = r"[-+]?(?:\d+\.\d*|\.\d+)(?:[EeDd][-+]?\d+)?"
_TOKEN = re.compile(rf"\*{{2,}}|{_NUMBER}")
_DOMAIN_HEAD = re.compile(r"^ *(ATOMIC|BOND) DOMAIN: *(.*?) *$", re.MULTILINE)
_BLOCK_START = "The Localized properties"
_BLOCK_END = "The Molecular Multipole Moments"
_TENSOR_HEAD = "Symmetrized Local Polarizability Tensor"
_CENTRE_TOL_BOHR = 1e-3
_CHARGE_SUM_TOL = 1e-3


# --- the job ---------------------------------------------------------------------------


@dataclass(frozen=True)
class LoPropJob:
    """One molecule to partition; coordinates in Angstrom, the atom whose proxies are kept."""

    elements: tuple[str, ...]
    coordinates: tuple[tuple[float, float, float], ...]
    charge: int = 0
    multiplicity: int = 1
    donor_index: int = 0


@dataclass(frozen=True)
class LoPropSettings:
    """Method choices; all of them enter the calculation key."""

    basis: str = "ANO-R2"
    functional: str = "PBE"
    ricd: bool = True  # RI with on-the-fly auxiliary basis (GATEWAY RICD)
    relativistic: str | None = None  # a GATEWAY keyword such as "RX2C"; None: non-relativistic
    bond: float | None = None  # LoProp BOND ratio; None keeps LoProp's default (1.5)
    scf_iterations: int | None = None  # SCF "Iterations" limit; None keeps the default


def atomic_number(symbol: str) -> int:
    """Atomic number of an element symbol in any letter case; 0 (dummy) is not an element."""
    z = atomic_numbers.get(symbol.capitalize(), 0)
    if z <= 0:
        raise CalculationFailed(f"unknown element symbol {symbol!r}", "input")
    return z


def _check_geometry_shape(job: LoPropJob) -> None:
    """Same number of symbols and finite 3-vectors, at least one atom."""
    if not job.elements or len(job.elements) != len(job.coordinates):
        raise CalculationFailed(
            f"{len(job.elements)} elements but {len(job.coordinates)} coordinate rows", "input"
        )
    for i, row in enumerate(job.coordinates):
        if len(row) != 3 or not all(math.isfinite(float(v)) for v in row):
            raise CalculationFailed(
                f"atom {i}: coordinates {row!r} are not 3 finite numbers", "input"
            )


def _check_spin(job: LoPropJob) -> None:
    """Electron count and multiplicity must agree, or the SCF input is impossible."""
    electrons = sum(atomic_number(s) for s in job.elements) - job.charge
    unpaired = job.multiplicity - 1
    if job.multiplicity < 1 or electrons < unpaired or (electrons - unpaired) % 2:
        raise CalculationFailed(
            f"multiplicity {job.multiplicity} is impossible with {electrons} electrons "
            f"(charge {job.charge})",
            "input",
        )


def validate_job(job: LoPropJob) -> None:
    """Raise CalculationFailed(kind='input') naming the bad value; bad input is never retried."""
    _check_geometry_shape(job)
    _check_spin(job)
    if not 0 <= job.donor_index < len(job.elements):
        raise CalculationFailed(
            f"donor_index {job.donor_index} outside 0..{len(job.elements) - 1}", "input"
        )


# --- input writer ----------------------------------------------------------------------


def ano_r_basis(contractions: Mapping[str, str]) -> str:
    """Explicit ANO-R labels per element, the fallback when the ``ANO-R2`` alias is missing.

    contractions: element -> contracted set, e.g. {"O": "4s3p2d1f"}; the caller chooses the
    level (ANO-R2 = VTZP in Basis-Set-Exchange naming).
    """
    labels = []
    for element, contraction in contractions.items():
        atomic_number(element)
        if not _CONTRACTION.fullmatch(contraction):
            raise ValueError(f"bad contraction {contraction!r} for {element}")
        labels.append(f"{element.capitalize()}.ANO-R...{contraction}.")
    if not labels:
        raise ValueError("no contractions given")
    return ", ".join(labels)


def xyz_text(elements: Sequence[str], coordinates: Sequence[Sequence[float]], comment: str) -> str:
    """Plain XYZ in Angstrom (OpenMolcas' default unit for Coord files)."""
    if "\n" in comment or "bohr" in comment.lower() or "a.u." in comment.lower():
        raise ValueError("xyz comment must be one line and must not switch units")
    # symbol in 3 columns: the Coord files written so far (tests/fixtures/openmolcas/*.xyz)
    return xyz_file.xyz_text(elements, coordinates, comment, symbol_width=3)


def _one_line(value: str, what: str) -> str:
    """Settings land verbatim in the input: keep them to one non-empty line."""
    if not value.strip() or "\n" in value or "\r" in value:
        raise ValueError(f"{what} must be one non-empty line, got {value!r}")
    return value.strip()


def input_text(xyz_name: str, charge: int, multiplicity: int, settings: LoPropSettings) -> str:
    """The OpenMolcas input: GATEWAY (C1), SEWARD, KS-DFT SCF, LoProp with polarizabilities."""
    lines = [
        "* GAUSS ligand proxy: KS-DFT + LoProp (calculators/openmolcas/loprop.py)",
        "&GATEWAY",
        f"  Coord = {_one_line(xyz_name, 'xyz file name')}",
        f"  Basis = {_one_line(settings.basis, 'basis')}",
        "  Group = C1",
    ]
    if settings.ricd:
        lines.append("  RICD")
    if settings.relativistic:
        lines.append(f"  {_one_line(settings.relativistic, 'relativistic keyword')}")
    functional = _one_line(settings.functional, "functional")
    lines += ["", "&SEWARD", "", "&SCF", f"  KSDFT = {functional}"]
    lines.append(f"  Charge = {int(charge)}")
    if settings.scf_iterations is not None:
        lines.append(f"  Iterations = {int(settings.scf_iterations)}")
    if multiplicity != 1:
        lines += ["  UHF", f"  Spin = {int(multiplicity)}"]
    lines += ["", "&LOPROP"]
    if settings.bond is not None:
        lines.append(f"  Bond = {float(settings.bond)}")
    return "\n".join(lines) + "\n"


# --- LoProp "Localized properties" parser ----------------------------------------------


@dataclass(frozen=True)
class LoPropDomain:
    """One atomic or bond domain as printed by LoProp (atomic units)."""

    labels: tuple[str, ...]  # ("C1",) for an atom, ("H2", "C1") for a bond
    center_bohr: tuple[float, float, float]
    charge: float  # "Total charge": nuclear + electronic, the net charge
    electronic_dipole: tuple[float, float, float]
    dipole: tuple[float, float, float]  # with nuclear contribution (bonds: electronic only)
    polarizability: tuple[float, ...] | None  # lower triangle xx, yx, yy, zx, zy, zz
    isotropic_polarizability: float | None

    @property
    def is_atom(self) -> bool:
        return len(self.labels) == 1

    @property
    def label(self) -> str:
        return ",".join(self.labels)

    @property
    def dipole_magnitude(self) -> float:
        return math.sqrt(sum(v * v for v in self.dipole))


def _to_float(token: str, where: str) -> float:
    """A printed number; a Fortran overflow field (****) is a clear failure, not a NaN."""
    if token.startswith("*"):
        raise CalculationFailed(
            f"LoProp {where}: value overflowed its Fortran field ({token}), unreadable"
        )
    return float(token.replace("D", "E").replace("d", "e"))


def _numbers(text: str, where: str) -> list[float]:
    return [_to_float(tok, where) for tok in _TOKEN.findall(text)]


def _missing(domain: str, what: str) -> CalculationFailed:
    return CalculationFailed(f"LoProp domain {domain}: no {what} (output truncated?)")


def _after_key(lines: list[str], key: str, count: int, domain: str) -> list[float]:
    """The `count` numbers printed after `key` on its line."""
    for line in lines:
        if line.strip().startswith(key):
            values = _numbers(line.split(key, 1)[1], f"domain {domain}, {key!r}")
            if len(values) < count:
                raise _missing(domain, f"complete {key!r} line")
            return values[:count]
    raise _missing(domain, f"{key!r} line")


def _vector_below(lines: list[str], index: int, domain: str, what: str) -> tuple[float, ...]:
    """The three numbers on the line after lines[index] (a `10F12.8` row)."""
    if index + 1 >= len(lines):
        raise _missing(domain, what)
    values = _numbers(lines[index + 1], f"domain {domain}, {what}")
    if len(values) != 3:
        raise _missing(domain, what)
    return tuple(values)


def _dipoles(lines: list[str], domain: str) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Electronic dipole and, when printed (atoms), the one with the nuclear contribution."""
    stripped = [line.strip() for line in lines]
    if "Electronic Dipole" not in stripped:
        raise _missing(domain, "'Electronic Dipole'")
    at = stripped.index("Electronic Dipole")
    electronic = _vector_below(lines, at, domain, "electronic dipole")
    if at + 2 < len(lines) and stripped[at + 2].startswith("... with nuclear contribution"):
        return electronic, _vector_below(lines, at + 2, domain, "dipole with nuclear part")
    return electronic, electronic


def _tensor(lines: list[str], domain: str) -> tuple[float, ...] | None:
    """Lower triangle of the local polarizability; None if LoProp ran without the field."""
    stripped = [line.strip() for line in lines]
    heads = [i for i, s in enumerate(stripped) if s.startswith(_TENSOR_HEAD)]
    if not heads:
        return None
    values: list[float] = []
    for line in stripped[heads[0] + 1 :]:
        if line.startswith("Isotropic Polarizability"):
            break
        if line and not line.startswith(("mat. size", "---")):
            values += _numbers(line, f"domain {domain}, polarizability tensor")
    if len(values) != 6:
        raise _missing(domain, "complete polarizability tensor")
    return tuple(values)


def _check_domain(domain: LoPropDomain, printed_magnitude: float) -> None:
    """Cross-checks that catch a parser out of step with the printed layout."""
    electronic = math.sqrt(sum(v * v for v in domain.electronic_dipole))
    if abs(electronic - printed_magnitude) > 1e-6 * max(1.0, printed_magnitude):
        raise CalculationFailed(
            f"LoProp domain {domain.label}: dipole magnitude {printed_magnitude} does not match "
            f"the electronic dipole read ({electronic:.8f})"
        )
    if domain.polarizability is not None and domain.isotropic_polarizability is not None:
        xx, _, yy, _, _, zz = domain.polarizability
        iso = domain.isotropic_polarizability
        if abs((xx + yy + zz) / 3.0 - iso) > 1e-5 * max(1.0, abs(iso)):
            raise CalculationFailed(
                f"LoProp domain {domain.label}: isotropic polarizability {iso} is not the "
                "trace/3 of the tensor read"
            )


def _domain_labels(label_text: str) -> tuple[str, ...]:
    """Header text 'H2    ,C1    ' -> ('H2', 'C1'); labels are blank-padded to a fixed width."""
    return tuple(part.strip() for part in label_text.split(",") if part.strip())


def _domain_name(label_text: str) -> str:
    return ",".join(_domain_labels(label_text)) or "?"


def _parse_domain(label_text: str, body: str) -> LoPropDomain:
    """One domain's printout (from its header to the next header)."""
    labels = _domain_labels(label_text)
    name = _domain_name(label_text)
    lines = body.splitlines()
    electronic, total = _dipoles(lines, name)
    tensor = _tensor(lines, name)
    iso = _after_key(lines, "Isotropic Polarizability:", 1, name)[0] if tensor else None
    domain = LoPropDomain(
        labels=labels,
        center_bohr=tuple(_after_key(lines, "Domain center:", 3, name)),
        charge=_after_key(lines, "Total charge", 1, name)[0],
        electronic_dipole=electronic,
        dipole=total,
        polarizability=tensor,
        isotropic_polarizability=iso,
    )
    _check_domain(domain, _after_key(lines, "Dipole magnitude:", 1, name)[0])
    return domain


def localized_block(text: str) -> str:
    """The last complete "Localized properties" block; truncation is a clear failure."""
    start = text.rfind(_BLOCK_START)
    if start < 0:
        raise CalculationFailed(
            "no LoProp 'The Localized properties' block: LoProp did not run or the output "
            "stops before it"
        )
    end = text.find(_BLOCK_END, start)
    if end < 0:
        heads = _DOMAIN_HEAD.findall(text, start)
        last = f" (last domain printed: {_domain_name(heads[-1][1])})" if heads else ""
        raise CalculationFailed(
            f"LoProp output truncated: '{_BLOCK_START}' is not followed by '{_BLOCK_END}'{last}"
        )
    return text[start + len(_BLOCK_START) : end]


def parse_localized_properties(text: str) -> list[LoPropDomain]:
    """All domains (atoms and bonds, in printed order) of an OpenMolcas output's LoProp block."""
    block = localized_block(text)
    heads = list(_DOMAIN_HEAD.finditer(block))
    if not heads:
        raise CalculationFailed("LoProp 'Localized properties' block has no domains")
    ends = [h.start() for h in heads[1:]] + [len(block)]
    return [_parse_domain(h.group(2), block[h.end() : e]) for h, e in zip(heads, ends, strict=True)]


def atom_domains(domains: Sequence[LoPropDomain]) -> list[LoPropDomain]:
    """Atomic domains in geometry order (LoProp loops over atoms in input order)."""
    return [d for d in domains if d.is_atom]


def label_element(label: str) -> str:
    """Element symbol of an OpenMolcas centre label such as 'C1', 'H12' or 'DY1'."""
    match = re.match(r"[A-Za-z]+", label)
    if not match:
        raise CalculationFailed(f"LoProp centre label {label!r} does not start with an element")
    symbol = match.group(0).capitalize()
    if atomic_numbers.get(symbol, 0) <= 0:
        raise CalculationFailed(f"LoProp centre label {label!r} does not name an element")
    return symbol


@dataclass(frozen=True)
class AtomProxy:
    """The paper's proxy descriptors of one atom (atomic units)."""

    label: str
    atomic_number: int
    charge: float  # e
    dipole: float  # e*bohr
    polarizability: float  # bohr^3

    @property
    def dipole_debye(self) -> float:
        return self.dipole * DEBYE_PER_AU


def atom_proxy(domains: Sequence[LoPropDomain], index: int) -> AtomProxy:
    """Charge, dipole magnitude, isotropic polarizability and Z of atom `index` (0-based)."""
    atoms = atom_domains(domains)
    if not 0 <= index < len(atoms):
        raise CalculationFailed(f"atom index {index} outside the {len(atoms)} LoProp atoms")
    atom = atoms[index]
    if atom.isotropic_polarizability is None:
        raise CalculationFailed(
            f"LoProp printed no polarizability for {atom.label}: it ran with NoField or with "
            "symmetry (needs Group = C1)"
        )
    return AtomProxy(
        label=atom.label,
        atomic_number=atomic_number(label_element(atom.label)),
        charge=atom.charge,
        dipole=atom.dipole_magnitude,
        polarizability=atom.isotropic_polarizability,
    )


def check_against_job(domains: Sequence[LoPropDomain], job: LoPropJob) -> None:
    """The output belongs to this geometry: same atoms, same order, same place, same charge."""
    atoms = atom_domains(domains)
    if len(atoms) != len(job.elements):
        raise CalculationFailed(
            f"LoProp printed {len(atoms)} atomic domains but the geometry has {len(job.elements)}"
        )
    for i, (atom, element, xyz) in enumerate(
        zip(atoms, job.elements, job.coordinates, strict=True)
    ):
        if label_element(atom.label) != element.capitalize():
            raise CalculationFailed(f"atom {i}: LoProp domain {atom.label} is not a {element}")
        offset = math.dist(atom.center_bohr, [v * BOHR_PER_ANGSTROM for v in xyz])
        if offset > _CENTRE_TOL_BOHR:
            raise CalculationFailed(
                f"atom {i}: LoProp domain {atom.label} centre is {offset:.4f} bohr from the input"
            )
    total = sum(d.charge for d in domains)
    if abs(total - job.charge) > _CHARGE_SUM_TOL:
        raise CalculationFailed(
            f"LoProp charges sum to {total:.4f} but the molecule's charge is {job.charge}"
        )


# --- template and calculator -----------------------------------------------------------


_STOP_MODULE = re.compile(r"^--- Stop Module: *(\S+) .*?/rc=(\S+) ---", re.MULTILINE)
_START_MODULE = re.compile(r"^--- Start Module: *(\S+) ", re.MULTILINE)
_MOLCAS_ERROR = re.compile(r"^ *#+ +ERROR: *(.*?) *#+ *$", re.MULTILINE)
_NO_CONVERGENCE = re.compile(r"No convergence after +(\d+) +Iterations")
_BAD_CHARGE = "Error in definition of molecular charge"
_ALL_IS_WELL = "_RC_ALL_IS_WELL_"
MODULES = ("gateway", "seward", "scf", "loprop")


def _error_detail(text: str, at: int) -> str:
    """The ERROR line before `at` plus the explanation OpenMolcas prints under its box."""
    errors = list(_MOLCAS_ERROR.finditer(text, 0, at))
    if not errors:
        return ""
    detail = errors[-1].group(1)
    after = [
        line.strip()
        for line in text[errors[-1].end() : at].splitlines()
        if line.strip() and not line.strip().startswith(("#", "[ process"))
    ]
    return "; ".join([detail, *after[:2]])


def check_run(text: str) -> None:
    """Raise CalculationFailed naming the cause when the pymolcas run did not finish cleanly.

    Reads the driver's ``--- Stop Module: <m> ... /rc=<code> ---`` lines (real 22.10 outputs):
    ``_RC_NOT_CONVERGED_`` from SCF is a chemistry failure ("No convergence after N
    Iterations"); ``_RC_INPUT_ERROR_`` and SCF's "Error in definition of molecular charge"
    (charge and multiplicity impossible) are input errors, never retried; any other code names
    the module and code; an output that stops inside a module, or before LoProp, is truncated.
    """
    for stop in _STOP_MODULE.finditer(text):
        module, rc = stop.group(1), stop.group(2)
        if rc == _ALL_IS_WELL:
            continue
        head = text[: stop.start()]
        if module == "scf" and rc == "_RC_NOT_CONVERGED_":
            found = _NO_CONVERGENCE.search(head)
            count = f" after {found.group(1)} iterations" if found else ""
            raise CalculationFailed(f"SCF not converged{count} (OpenMolcas rc={rc})")
        if _BAD_CHARGE in head:
            raise CalculationFailed(
                f"{module}: {_BAD_CHARGE} (charge and multiplicity do not fit the electron "
                f"count; OpenMolcas rc={rc})",
                "input",
            )
        detail = _error_detail(text, stop.start())
        why = f": {detail}" if detail else ""
        kind = "input" if rc == "_RC_INPUT_ERROR_" else "chemistry"
        raise CalculationFailed(f"OpenMolcas {module} stopped with rc={rc}{why}", kind)
    started = _START_MODULE.findall(text)
    stopped = [m for m, _ in _STOP_MODULE.findall(text)]
    if not started:
        raise CalculationFailed(
            "output has no '--- Start Module' line: pymolcas did not start a module "
            "(truncated, or the driver itself failed)"
        )
    if len(stopped) < len(started):
        raise CalculationFailed(
            f"output truncated: it stops inside module {started[-1]} (no 'Stop Module' line)"
        )
    if "loprop" not in stopped:
        raise CalculationFailed(
            f"output truncated: modules {', '.join(stopped)} finished but LoProp never ran"
        )


def _read_text(path: Path, kind: str) -> str:
    """Read an output file; a missing one means the program never ran (infrastructure)."""
    try:
        return path.read_text(errors="replace")
    except FileNotFoundError as exc:
        raise CalculationFailed(
            f"{path.name} missing: {kind} never written", "infrastructure"
        ) from exc


def proxy_values(domains: Sequence[LoPropDomain], job: LoPropJob) -> dict[str, Any]:
    """The stored result: the donor's proxy descriptors plus every atom's, for later reuse."""
    proxy = atom_proxy(domains, job.donor_index)
    atoms = atom_domains(domains)
    return {
        "atom_index": job.donor_index,
        "label": proxy.label,
        "atomic_number": proxy.atomic_number,
        "charge": proxy.charge,
        "dipole": proxy.dipole,
        "dipole_debye": proxy.dipole_debye,
        "polarizability": proxy.polarizability,
        "atom_labels": [a.label for a in atoms],
        "atom_charges": [a.charge for a in atoms],
        "atom_dipoles": [a.dipole_magnitude for a in atoms],
        "atom_polarizabilities": [a.isotropic_polarizability for a in atoms],
    }


@dataclass(frozen=True)
class LoPropTemplate:
    """Pure part: writes <project>.xyz/.input/.job.json, parses <project>.log.

    `resources` and `pymolcas` only shape the command line (memory, threads, which script):
    they never change the result, so they are not part of any calculation key.
    """

    settings: LoPropSettings = field(default_factory=LoPropSettings)
    project: str = "loprop"  # file stem; never derived from a SMILES
    resources: MolcasResources = field(default_factory=MolcasResources)
    pymolcas: str | None = None  # path of the pymolcas script; None: program.pymolcas_path()
    program: str = field(default=ENV_PROGRAM, init=False)  # `env VAR=.. python pymolcas`

    def __post_init__(self) -> None:
        if not _PROJECT.fullmatch(self.project):
            raise ValueError(f"project name {self.project!r} must match {_PROJECT.pattern}")

    def write_inputs(self, item: LoPropJob, workdir: Path) -> list[str]:
        """Write the geometry, the input and the job record; return the command's arguments."""
        validate_job(item)
        xyz, inp = f"{self.project}.xyz", f"{self.project}.input"
        comment = f"{self.project}: charge {item.charge} multiplicity {item.multiplicity}"
        (workdir / xyz).write_text(xyz_text(item.elements, item.coordinates, comment))
        (workdir / inp).write_text(input_text(xyz, item.charge, item.multiplicity, self.settings))
        (workdir / f"{self.project}.job.json").write_text(json.dumps(asdict(item), indent=1))
        program, args = molcas_command(inp, workdir, self.resources, self.pymolcas)
        assert program == self.program
        return args

    def output_name(self) -> str:
        return f"{self.project}.log"

    def _job(self, workdir: Path) -> LoPropJob:
        data = json.loads(_read_text(workdir / f"{self.project}.job.json", "job record"))
        data["elements"] = tuple(data["elements"])
        data["coordinates"] = tuple(tuple(row) for row in data["coordinates"])
        return LoPropJob(**data)

    def parse(self, workdir: Path) -> dict[str, Any]:
        """Proxy values of the job's donor atom, after checking the output matches the job."""
        job = self._job(workdir)
        text = _read_text(workdir / self.output_name(), "output")
        check_run(text)
        domains = parse_localized_properties(text)
        check_against_job(domains, job)
        return proxy_values(domains, job)

    def program_versions(self, workdir: Path) -> dict[str, str]:
        path = workdir / self.output_name()
        return program_versions(path.read_text(errors="replace")) if path.exists() else {}


def _pymolcas_override(launcher: Launcher) -> str | None:
    """A launcher's ``executables["pymolcas"]`` (the script's path where it runs), if any."""
    return dict(getattr(launcher, "executables", None) or {}).get(PROGRAM)


@dataclass(frozen=True)
class OpenMolcasLoProp:
    """HPC proxy calculator: OpenMolcas KS-DFT + LoProp, run through a Launcher.

    The pymolcas path comes from the launcher's ``executables["pymolcas"]`` when it has one
    (the path on the workers), else from ``program.pymolcas_path()``.
    """

    settings: LoPropSettings = field(default_factory=LoPropSettings)
    launcher: Launcher = field(default_factory=SubprocessLauncher)
    resources: MolcasResources = field(default_factory=MolcasResources)
    name: str = field(default="openmolcas-loprop", init=False)
    version: str = field(default="2", init=False)

    def method_for(self, versions: dict[str, str]) -> str:
        s = self.settings
        extras = "".join(f" {x}" for x in ("RICD" if s.ricd else "", s.relativistic or "") if x)
        return f"{openmolcas_label(versions)} KS-DFT {s.functional}/{s.basis}{extras} + LoProp"

    @property
    def method(self) -> str:
        return self.method_for(installed_versions(_pymolcas_override(self.launcher)))

    @property
    def template(self) -> LoPropTemplate:
        return LoPropTemplate(
            self.settings, resources=self.resources, pymolcas=_pymolcas_override(self.launcher)
        )

    def canonical_input(self, item: LoPropJob) -> dict[str, Any]:
        """Everything the result depends on; coordinates rounded to 1e-6 Angstrom."""
        return {
            "elements": [e.capitalize() for e in item.elements],
            "coordinates": [[round(float(v), 6) for v in row] for row in item.coordinates],
            "charge": item.charge,
            "multiplicity": item.multiplicity,
            "donor_index": item.donor_index,
            "settings": asdict(self.settings),
        }

    def run(self, item: LoPropJob, workdir: Path | None = None) -> CalcResult:
        """Write, launch, parse; a scratch directory is made (and kept) when none is given.

        The stored method names the OpenMolcas version of the output's own banner.
        """
        where = Path(workdir) if workdir else Path(tempfile.mkdtemp(prefix="openmolcas_loprop_"))
        template = self.template
        result = run_program(
            self, template, item, where, self.launcher, UNITS, template.program_versions
        )
        changes: dict[str, Any] = {}
        if result.program_versions.get("openmolcas"):
            changes["method"] = self.method_for(result.program_versions)
        if result.reason and result.reason.startswith(f"{ENV_PROGRAM} exited"):
            changes["reason"] = PROGRAM + result.reason[len(ENV_PROGRAM) :]
        return replace(result, **changes) if changes else result
