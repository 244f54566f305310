"""Offline conformance of FHIR resources to an implementation guide's profiles.

A small validator for what a profile's snapshot states without FHIRPath: element
cardinalities (``min``/``max``, on slices too), ``fixed[x]`` and ``pattern[x]`` values,
and required bindings (against the package's own ValueSets and CodeSystems; for a
ValueSet outside the package, the few FHIR core code lists a report uses, and for a LOINC
answer list that the code is a LOINC answer). Profiles are followed from ``meta.profile``
and from element types (extensions, nested profiles), and slices are told apart by their
discriminators (``value``/``pattern`` on a path, ``type``, and ``profile`` on
``resolve()`` through the Bundle or the resolver the caller gives).

Not checked: invariants (FHIRPath ``constraint``), terminology outside the package, and
base-resource rules of elements the profile does not constrain (the ``fhir.resources``
models check those).
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

LOINC = "http://loinc.org"

# FHIR R4 core code lists that the IG's required bindings point at (4.0.1).
_OBSERVATION_STATUS = "registered preliminary final amended corrected cancelled entered-in-error"
_REPORT_STATUS = "registered partial preliminary final amended corrected appended cancelled"
_CORE_CODES: dict[str, frozenset[str]] = {
    "http://hl7.org/fhir/ValueSet/observation-status": frozenset(
        [*_OBSERVATION_STATUS.split(" "), "unknown"]
    ),
    "http://hl7.org/fhir/ValueSet/diagnostic-report-status": frozenset(
        [*_REPORT_STATUS.split(" "), "entered-in-error", "unknown"]
    ),
    "http://hl7.org/fhir/ValueSet/quantity-comparator": frozenset(["<", "<=", ">=", ">"]),
}

Resolver = Callable[[str], Mapping[str, Any] | None]


@dataclass(frozen=True)
class ConformanceIssue:
    """One way a resource misses a profile: where, against which profile, and why."""

    resource: str  # "Observation/<id>"
    profile: str
    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.resource} {self.path}: {self.message} ({self.profile})"


@dataclass
class _Profile:
    url: str
    type: str
    elements: dict[str, dict[str, Any]]
    children: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    @classmethod
    def from_definition(cls, sd: Mapping[str, Any]) -> _Profile:
        elements = {e["id"]: e for e in sd["snapshot"]["element"]}
        children: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for element_id, element in elements.items():
            parent, sep, _ = element_id.rpartition(".")
            if sep:
                children[parent].append(element)
        return cls(url=sd["url"], type=sd["type"], elements=elements, children=dict(children))

    @property
    def root(self) -> str:
        return self.type


def _last_segment(element_id: str) -> str:
    return element_id.rpartition(".")[2]


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _choice_values(node: Mapping[str, Any], name: str) -> list[tuple[str, Any]]:
    """The (key, value) pairs an element name selects in a JSON object."""
    if name.endswith("[x]"):
        stem = name[:-3]
        keys = [k for k in node if k.startswith(stem) and k[len(stem) : len(stem) + 1].isupper()]
    else:
        keys = [name] if name in node else []
    return [(k, v) for k in keys for v in _as_list(node[k])]


def _matches_pattern(pattern: Any, value: Any) -> bool:
    """FHIR pattern semantics: every part of the pattern is present in the value."""
    if isinstance(pattern, dict):
        return isinstance(value, dict) and all(
            k in value and _matches_pattern(p, value[k]) for k, p in pattern.items()
        )
    if isinstance(pattern, list):
        values = _as_list(value)
        return all(any(_matches_pattern(p, v) for v in values) for p in pattern)
    return pattern == value


def _fixed_or_pattern(element: Mapping[str, Any]) -> tuple[str, Any] | None:
    for key, value in element.items():
        if key.startswith("fixed") or key.startswith("pattern"):
            return key, value
    return None


def _codings(value: Any) -> list[tuple[str | None, str]] | None:
    """(system, code) pairs of a code, Coding, CodeableConcept or Quantity; None: no code."""
    if isinstance(value, str):
        return [(None, value)]
    if not isinstance(value, dict):
        return None
    if "coding" in value or "text" in value and "code" not in value:
        return [(c.get("system"), c.get("code", "")) for c in value.get("coding", [])]
    if "code" in value:
        return [(value.get("system"), value["code"])]
    return None


class Package:
    """The profiles, ValueSets and CodeSystems of one IG package, indexed by URL."""

    def __init__(self, definitions: Iterable[Mapping[str, Any]]) -> None:
        self.profiles: dict[str, _Profile] = {}
        self.value_sets: dict[str, Mapping[str, Any]] = {}
        self.code_systems: dict[str, Mapping[str, Any]] = {}
        for definition in definitions:
            kind = definition.get("resourceType")
            if kind == "StructureDefinition" and "snapshot" in definition:
                self.profiles[definition["url"]] = _Profile.from_definition(definition)
            elif kind == "ValueSet":
                self.value_sets[definition["url"]] = definition
            elif kind == "CodeSystem":
                self.code_systems[definition["url"]] = definition
        self._expansions: dict[str, tuple[set[tuple[str, str]], set[str]] | None] = {}

    @classmethod
    def from_folder(cls, folder: Path) -> Package:
        """Load every ``*.json`` definition of a package folder."""
        definitions = []
        for path in sorted(folder.glob("*.json")):
            with path.open(encoding="utf-8") as fh:
                definitions.append(json.load(fh))
        return cls(definitions)

    def profile(self, url: str) -> _Profile | None:
        return self.profiles.get(url.split("|")[0])

    def expansion(self, url: str) -> tuple[set[tuple[str, str]], set[str]] | None:
        """(allowed (system, code) pairs, systems allowed whole) of a ValueSet; None: unknown."""
        url = url.split("|")[0]
        if url not in self._expansions:
            self._expansions[url] = None  # cycles end here
            self._expansions[url] = self._expand(url)
        return self._expansions[url]

    def _expand(self, url: str) -> tuple[set[tuple[str, str]], set[str]] | None:
        vs = self.value_sets.get(url)
        if vs is None:
            return None
        codes: set[tuple[str, str]] = set()
        systems: set[str] = set()
        for include in vs.get("compose", {}).get("include", []):
            system = include.get("system")
            for nested in include.get("valueSet", []):
                inner = self.expansion(nested)
                if inner is None:
                    return None
                codes |= inner[0]
                systems |= inner[1]
            if system is None:
                continue
            if include.get("concept"):
                codes |= {(system, c["code"]) for c in include["concept"]}
            elif system in self.code_systems and not include.get("filter"):
                codes |= {(system, c) for c in _all_codes(self.code_systems[system])}
            else:
                systems.add(system)  # a filter or an external system: its system is checked
        return codes, systems


def _all_codes(code_system: Mapping[str, Any]) -> set[str]:
    out: set[str] = set()
    stack = list(code_system.get("concept", []))
    while stack:
        concept = stack.pop()
        out.add(concept["code"])
        stack.extend(concept.get("concept", []))
    return out


class _Run:
    """One resource's check against one profile, collecting issues."""

    def __init__(
        self, package: Package, resolve: Resolver, resource_label: str, profile_url: str
    ) -> None:
        self.package = package
        self.resolve = resolve
        self.label = resource_label
        self.profile_url = profile_url
        self.issues: list[ConformanceIssue] = []

    def issue(self, path: str, message: str) -> None:
        self.issues.append(ConformanceIssue(self.label, self.profile_url, path, message))

    def node(self, profile: _Profile, element_id: str, value: Mapping[str, Any], path: str) -> None:
        for child in profile.children.get(element_id, []):
            segment = _last_segment(child["id"])
            if ":" in segment:
                continue  # slices are checked with their base element below
            if "contentReference" in child:
                continue
            name = segment
            values = _choice_values(value, name)
            self.cardinality(child, len(values), f"{path}.{name}")
            for index, (key, item) in enumerate(values):
                self.value(profile, child, item, f"{path}.{key}[{index}]")
            if "slicing" in child:
                self.slices(profile, child, values, f"{path}.{name}")

    def slices(
        self,
        profile: _Profile,
        base: Mapping[str, Any],
        values: list[tuple[str, Any]],
        path: str,
    ) -> None:
        prefix = base["id"] + ":"
        for slice_element in profile.children.get(base["id"].rpartition(".")[0], []):
            slice_id = slice_element["id"]
            if not slice_id.startswith(prefix) or "/" in slice_id[len(prefix) :]:
                continue
            name = slice_id[len(prefix) :]
            members = [
                (key, item)
                for key, item in values
                if self.in_slice(profile, base, slice_element, key, item)
            ]
            self.cardinality(slice_element, len(members), f"{path}:{name}")
            for index, (_, item) in enumerate(members):
                self.value(profile, slice_element, item, f"{path}:{name}[{index}]")

    def in_slice(
        self,
        profile: _Profile,
        base: Mapping[str, Any],
        slice_element: Mapping[str, Any],
        key: str,
        item: Any,
    ) -> bool:
        slice_name = slice_element["sliceName"]
        if base["id"].endswith("[x]"):
            # Type slices of a choice element are named after the JSON key they select.
            types = [t["code"] for t in slice_element.get("type", [])]
            stem = _last_segment(base["id"])[:-3]
            return key == slice_name or key in {stem + t[:1].upper() + t[1:] for t in types}
        for discriminator in base["slicing"].get("discriminator", []):
            kind, disc_path = discriminator["type"], discriminator["path"]
            if kind in ("value", "pattern"):
                if not self.value_discriminated(profile, slice_element, disc_path, item):
                    return False
            elif kind == "profile" and disc_path == "resolve()":
                if not self.profile_discriminated(slice_element, item):
                    return False
            elif kind == "type":
                codes = {t["code"] for t in slice_element.get("type", [])}
                actual = item.get("resourceType") if isinstance(item, dict) else None
                if actual is not None and actual not in codes:
                    return False
            elif kind == "exists":
                continue
        return True

    def value_discriminated(
        self, profile: _Profile, slice_element: Mapping[str, Any], disc_path: str, item: Any
    ) -> bool:
        target: Mapping[str, Any] | None
        if disc_path == "$this":
            target, candidates = slice_element, [item]
        else:
            target = profile.elements.get(f"{slice_element['id']}.{disc_path}")
            candidates = [item]
            for step in disc_path.split("."):
                candidates = [
                    v for c in candidates if isinstance(c, dict) for _, v in _choice_values(c, step)
                ]
        if target is None:
            target = self.profiled_target(slice_element, disc_path)
        if target is None:
            return False
        rule = _fixed_or_pattern(target)
        if rule is not None:
            key, expected = rule
            if key.startswith("fixed"):
                return any(c == expected for c in candidates)
            return any(_matches_pattern(expected, c) for c in candidates)
        binding = target.get("binding", {})
        if binding.get("strength") == "required" and binding.get("valueSet"):
            return any(self.bound(binding["valueSet"], c) is not False for c in candidates)
        return False

    def profiled_target(
        self, slice_element: Mapping[str, Any], disc_path: str
    ) -> Mapping[str, Any] | None:
        """The discriminating element in the profile of a slice's type (an extension slice
        names its extension's profile and leaves ``url`` to it); for an extension whose
        profile is not in the package, its URL is the value ``url`` must have."""
        for element_type in slice_element.get("type", []):
            for url in element_type.get("profile", []):
                nested = self.package.profile(url)
                if nested is not None:
                    found = nested.elements.get(f"{nested.root}.{disc_path}")
                    if found is not None:
                        return found
                elif disc_path == "url" and element_type.get("code") == "Extension":
                    return {"fixedUri": url.split("|")[0]}
        return None

    def profile_discriminated(self, slice_element: Mapping[str, Any], item: Any) -> bool:
        if not isinstance(item, dict) or "reference" not in item:
            return False
        target = self.resolve(item["reference"])
        if target is None:
            return False
        declared = {p.split("|")[0] for p in target.get("meta", {}).get("profile", [])}
        wanted = {
            p.split("|")[0]
            for t in slice_element.get("type", [])
            for p in t.get("targetProfile", [])
        }
        return bool(declared & wanted)

    def cardinality(self, element: Mapping[str, Any], count: int, path: str) -> None:
        low = element.get("min", 0)
        high = element.get("max", "*")
        if count < low:
            self.issue(path, f"has {count} value(s), the profile requires at least {low}")
        if high != "*" and count > int(high):
            self.issue(path, f"has {count} value(s), the profile allows at most {high}")

    def value(self, profile: _Profile, element: Mapping[str, Any], item: Any, path: str) -> None:
        rule = _fixed_or_pattern(element)
        if rule is not None:
            key, expected = rule
            ok = item == expected if key.startswith("fixed") else _matches_pattern(expected, item)
            if not ok:
                self.issue(path, f"{key} {json.dumps(expected)} not met by {json.dumps(item)}")
        binding = element.get("binding", {})
        required = binding.get("strength") == "required" and binding.get("valueSet")
        if required and self.bound(binding["valueSet"], item) is False:
            self.issue(
                path, f"{json.dumps(item)} is not in required ValueSet {binding['valueSet']}"
            )
        if not isinstance(item, dict):
            return
        if profile.children.get(element["id"]):
            self.node(profile, element["id"], item, path)
            return
        for element_type in element.get("type", []):
            for url in element_type.get("profile", []):
                nested = self.package.profile(url)
                if nested is not None:
                    self.node(nested, nested.root, item, path)

    def bound(self, value_set: str, item: Any) -> bool | None:
        """Whether ``item``'s code is in the ValueSet; None when it cannot be told here."""
        codings = _codings(item)
        if codings is None:
            return None
        if not codings:
            return False  # a required binding needs a code, not text alone
        url = value_set.split("|")[0]
        core = _CORE_CODES.get(url)
        if core is not None:
            return any(code in core for _, code in codings)
        if url.startswith("http://loinc.org/vs/LL"):
            return any(system == LOINC and code.startswith("LA") for system, code in codings)
        expansion = self.package.expansion(url)
        if expansion is None:
            return None
        codes, systems = expansion
        return any((s, c) in codes or s in systems for s, c in codings)


def _local_resolver(resource: Mapping[str, Any], outer: Resolver | None) -> Resolver:
    contained = {f"#{r.get('id')}": r for r in resource.get("contained", [])}

    def resolve(reference: str) -> Mapping[str, Any] | None:
        if reference in contained:
            return contained[reference]
        return outer(reference) if outer is not None else None

    return resolve


def check_resource(
    resource: Mapping[str, Any],
    package: Package,
    *,
    resolve: Resolver | None = None,
    profiles: Iterable[str] = (),
) -> list[ConformanceIssue]:
    """Issues of ``resource`` against its ``meta.profile`` (and ``profiles``) in the package.

    Profiles the package does not hold are ignored; contained resources are checked too.
    """
    label = f"{resource.get('resourceType')}/{resource.get('id', '?')}"
    local = _local_resolver(resource, resolve)
    wanted = [*resource.get("meta", {}).get("profile", []), *profiles]
    issues: list[ConformanceIssue] = []
    for url in dict.fromkeys(wanted):
        profile = package.profile(url)
        if profile is None:
            continue
        run = _Run(package, local, label, profile.url)
        if profile.type != resource.get("resourceType"):
            run.issue(profile.type, f"the profile is for {profile.type} resources")
        else:
            run.node(profile, profile.root, resource, profile.root)
        issues += run.issues
    for inner in resource.get("contained", []):
        issues += check_resource(inner, package, resolve=local)
    return issues


def bundle_resolver(bundle: Mapping[str, Any], outer: Resolver | None = None) -> Resolver:
    """Resolve ``urn:uuid:…``, full URLs and ``Type/id`` references within a Bundle."""
    index: dict[str, Mapping[str, Any]] = {}
    for entry in bundle.get("entry", []):
        resource = entry.get("resource")
        if not resource:
            continue
        if entry.get("fullUrl"):
            index[entry["fullUrl"]] = resource
        index[f"{resource.get('resourceType')}/{resource.get('id')}"] = resource

    def resolve(reference: str) -> Mapping[str, Any] | None:
        if reference in index:
            return index[reference]
        tail = "/".join(reference.rstrip("/").split("/")[-2:])
        if tail in index:
            return index[tail]
        return outer(reference) if outer is not None else None

    return resolve


def check_bundle(
    bundle: Mapping[str, Any], package: Package, *, resolve: Resolver | None = None
) -> list[ConformanceIssue]:
    """Issues of the Bundle itself and of every entry, references resolved in the Bundle."""
    local = bundle_resolver(bundle, resolve)
    issues = check_resource(bundle, package, resolve=local)
    for entry in bundle.get("entry", []):
        resource = entry.get("resource")
        if not resource:
            continue
        if resource.get("resourceType") == "Bundle":
            issues += check_bundle(resource, package, resolve=local)
        else:
            issues += check_resource(resource, package, resolve=local)
    return issues
