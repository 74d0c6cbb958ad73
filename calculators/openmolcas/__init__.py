"""OpenMolcas calculators (ASE-style package).

* ``program``: how pymolcas is launched (interpreter, MOLCAS_MEM / MOLCAS_WORKDIR / threads per
  task) and its banner's versions; shared by every OpenMolcas calculator.
* ``loprop``: KS-DFT + LoProp, the ligand proxy labels (input writer, output parser, template).

Names other modules import from ``calculators.openmolcas`` are re-exported here.
"""

from calculators.openmolcas.loprop import (
    UNITS,
    AtomProxy,
    LoPropDomain,
    LoPropJob,
    LoPropSettings,
    LoPropTemplate,
    OpenMolcasLoProp,
    ano_r_basis,
    atom_domains,
    atom_proxy,
    check_against_job,
    input_text,
    label_element,
    localized_block,
    parse_localized_properties,
    proxy_values,
    validate_job,
    xyz_text,
)
from calculators.openmolcas.program import (
    PROGRAM,
    MolcasResources,
    molcas_available,
    molcas_command,
    program_versions,
)

__all__ = [
    "PROGRAM",
    "UNITS",
    "AtomProxy",
    "LoPropDomain",
    "LoPropJob",
    "LoPropSettings",
    "LoPropTemplate",
    "MolcasResources",
    "OpenMolcasLoProp",
    "ano_r_basis",
    "atom_domains",
    "atom_proxy",
    "check_against_job",
    "input_text",
    "label_element",
    "localized_block",
    "molcas_available",
    "molcas_command",
    "parse_localized_properties",
    "program_versions",
    "proxy_values",
    "validate_job",
    "xyz_text",
]
