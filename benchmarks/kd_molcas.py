"""Real OpenMolcas CASSCF(9,7)/RASSI-SO/SINGLE_ANISO Kramers doublets of [Dy(H2O)5L2]+.

Usage: OMP_NUM_THREADS=1 .venv/bin/python benchmarks/kd_molcas.py [--ligand '[O-]C']
       [--settings production|test] [--workdir DIR] [--plot PNG]
Production settings: ANO-RCC-VTZP (Dy) / VDZP (2 axial donors + 5 water O) / VDZ (rest), RICD,
21 sextets; geometry: molSimplify + GFN2-xTB/ALPB(water) relaxation (MolcasKD default). One
pymolcas process, one thread. Prints the eight Kramers doublets, gaps, ground g tensor, the
spin-free sextet pattern and the time per module; optionally plots the spectrum.
Last line: key=value figures.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import time
from pathlib import Path

from calculators.kd_molcas import STEP_CASSCF, MolcasKD
from calculators.openmolcas.casscf import PROJECT, TEST_SETTINGS, CasscfSettings
from calculators.openmolcas.program import MolcasResources

_STAMP = re.compile(r"^--- (Start|Stop) Module: (\w+) at (.+?)(?: /rc=\S+)? ---$", re.M)


def module_seconds(log: str) -> dict[str, float]:
    """Wall seconds per module from the start/stop stamps (repeated modules summed)."""
    out: dict[str, float] = {}
    begun: dict[str, float] = {}
    for kind, name, stamp in _STAMP.findall(log):
        t = time.mktime(time.strptime(stamp.strip(), "%a %b %d %H:%M:%S %Y"))
        if kind == "Start":
            begun[name] = t
        elif name in begun:
            out[name] = out.get(name, 0.0) + t - begun.pop(name)
    return out


def plot(values: dict, path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(4, 5))
    energies = values["kd_energies"]
    labelled = -1e9
    for k, e in enumerate(energies):
        ax.hlines(e, 0, 1, color="C0", label="Kramers doublet (SO-RASSI)" if k == 0 else None)
        if e - labelled > 0.04 * energies[-1]:  # skip labels that would overlap
            ax.text(1.05, e, f"g_z={values['g_doublets'][k][2]:.2f}", va="center", fontsize=7)
            labelled = e
    ax.set_xlim(0, 1.6)
    ax.set_xticks([])
    ax.set_xlabel("SINGLE_ANISO g_z of each doublet (right)")
    ax.set_ylabel("energy above ground doublet (cm$^{-1}$)")
    ax.set_title(title, fontsize=8)
    ax.legend(loc="upper left", fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ligand", default="[O-]C")
    parser.add_argument("--settings", choices=("production", "test"), default="production")
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--mem-mb", type=int, default=3000)
    parser.add_argument("--plot", type=Path, default=None)
    args = parser.parse_args()
    settings = CasscfSettings() if args.settings == "production" else TEST_SETTINGS
    calc = MolcasKD(settings=settings, resources=MolcasResources(mem_mb=args.mem_mb))
    start = time.perf_counter()
    result = calc.run(args.ligand, workdir=args.workdir)
    wall = time.perf_counter() - start
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, OMP_NUM_THREADS=1")
    print(f"method: {result.method}")
    print(f"status: {result.status} {result.reason or ''}")
    log = Path(result.workdir) / STEP_CASSCF / f"{PROJECT}.log"
    modules = module_seconds(log.read_text(errors="replace")) if log.exists() else {}
    print("module wall seconds: " + ", ".join(f"{m} {s:.0f}" for m, s in modules.items()))
    if not result.ok:
        failed = f"ligand={args.ligand} settings={args.settings} status=failed"
        print(f"kd_molcas {failed} wall_s={wall:.0f}")
        raise SystemExit(1)
    v = result.values
    print("Kramers doublets (cm-1): " + " ".join(f"{e:.1f}" for e in v["kd_energies"]))
    print("gaps (cm-1): " + " ".join(f"{v[f'gap_{i}']:.1f}" for i in range(1, 8)))
    print("ground g (X Y Z): " + " ".join(f"{g:.4f}" for g in v["g_ground"]))
    sextets = v["spin_free_energies"]["6"]
    print("spin-free sextets (cm-1): " + " ".join(f"{e:.0f}" for e in sextets))
    print(
        "active orbitals' Dy f character: " + " ".join(f"{c:.3f}" for c in v["active_f_character"])
    )
    if args.plot:
        plot(v, args.plot, f"[Dy(H2O)5L2]+, L={args.ligand}\n{args.settings}: OpenMolcas RASSI-SO")
        print(f"plot: {args.plot}")
    figures = {
        "ligand": args.ligand,
        "settings": args.settings,
        "wall_s": f"{wall:.0f}",
        **{m: f"{s:.0f}" for m, s in modules.items()},
        "gap_1": f"{v['gap_1']:.1f}",
        "kd_8": f"{v['kd_energies'][-1]:.1f}",
        "g_z": f"{v['g_ground'][2]:.3f}",
        "sextet_11": f"{sextets[10]:.0f}",
        "sextet_12": f"{sextets[11]:.0f}",
        "sextet_19": f"{sextets[18]:.0f}",
        "rasscf_iterations": v["rasscf_iterations"]["6"],
    }
    print("kd_molcas " + " ".join(f"{k}={val}" for k, val in figures.items()))


if __name__ == "__main__":
    main()
