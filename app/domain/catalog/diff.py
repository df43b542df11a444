"""Catalog as code, the pure half: read a catalog document into the catalog it declares, and
describe differences. Nothing here touches the database (see `catalog_document` for that).

`read_document` checks the whole document before anything is written: its shape (keys, types),
duplicate ids, references inside the document (entitlement features, parent plans, compatible
plans, default plans), parent cycles, and every feature, entitlement and price against the
catalog rules. Each error carries the path of the offending element, e.g.
`["products", 0, "plans", 2, "entitlements", "seats", "limit"]`.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from app.domain.catalog import prices as catalog_prices
from app.domain.catalog import rules
from app.errors import DomainError, DomainErrors, ErrorCode

DOCUMENT_VERSION = 1
TOP_KEYS = ("version", "features", "products")
PRODUCT_KEYS = (
    "id",
    "name",
    "description",
    "multipleSubscriptions",
    "defaultPlan",
    "downgradeToDefaultPlan",
    "plans",
    "addons",
)
PACKAGE_KEYS = ("id", "name", "description")
PLAN_CONTENT_KEYS = ("parent", "pricingType", "trial", "entitlements", "prices")
ADDON_CONTENT_KEYS = ("maxQuantity", "compatiblePlans", "entitlements", "prices")
MAX_ERRORS = 50

# Change kinds and entities (CatalogChange.kind / .entity).
CREATED = "CREATED"
UPDATED = "UPDATED"
PUBLISHED = "PUBLISHED"
ARCHIVED = "ARCHIVED"
FEATURE = "FEATURE"
PRODUCT = "PRODUCT"
PLAN = "PLAN"
ADDON = "ADDON"

Path = list[str | int]


@dataclass(frozen=True)
class Change:
    """One thing `applyCatalog` did (or, in a dry run, would do)."""

    kind: str  # CREATED | UPDATED | PUBLISHED | ARCHIVED
    entity: str  # FEATURE | PRODUCT | PLAN | ADDON
    id: str
    detail: str | None = None


@dataclass
class DeclaredFeature:
    path: Path
    definition: dict[str, Any]  # canonical (catalog_rules.canonical_feature)

    @property
    def id(self) -> str:
        return str(self.definition["id"])


@dataclass
class DeclaredPackage:
    kind: str  # PLAN | ADDON
    path: Path
    id: str
    name: str
    description: str
    content: dict[str, Any]  # every content key given (None = absent), as the domain takes it


@dataclass
class DeclaredProduct:
    path: Path
    id: str
    fields: dict[str, Any]  # name, description, multipleSubscriptions, downgradeToDefaultPlan
    default_plan: str | None
    plans: list[DeclaredPackage] = field(default_factory=list)  # parents before children
    addons: list[DeclaredPackage] = field(default_factory=list)


@dataclass
class DeclaredCatalog:
    features: list[DeclaredFeature]
    products: list[DeclaredProduct]


# --- reading a document -------------------------------------------------------------------


class _Collector:
    """Collects errors so one run reports every mistake it can find (up to MAX_ERRORS)."""

    def __init__(self) -> None:
        self.errors: list[DomainError] = []

    def add(self, code: ErrorCode, message: str, path: Sequence[str | int]) -> None:
        self.errors.append(DomainError(code, message, list(path)))

    @contextmanager
    def check(self) -> Iterator[None]:
        try:
            yield
        except DomainError as error:
            self.errors.append(error)
        except DomainErrors as errors:
            self.errors.extend(errors.errors)

    def raise_if_any(self) -> None:
        if len(self.errors) == 1:
            raise self.errors[0]
        if self.errors:
            raise DomainErrors(self.errors[:MAX_ERRORS])


def _where(path: Sequence[str | int]) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _bad(message: str, path: Sequence[str | int]) -> DomainError:
    return DomainError(ErrorCode.INVALID_CATALOG, message, list(path))


def _object(
    value: Any, path: Path, allowed: Sequence[str], errors: _Collector | None = None
) -> Mapping[str, Any]:
    """`value` as an object; unknown keys are collected in `errors` (or raised)."""
    if not isinstance(value, Mapping):
        raise _bad(f"must be an object; got {type(value).__name__}", path)
    for key in value:
        if key not in allowed:
            error = _bad(f"unknown key {key!r}; allowed: {', '.join(allowed)}", [*path, str(key)])
            if errors is None:
                raise error
            errors.errors.append(error)
    return value


def _element(
    raw: Any, path: Path, allowed: Sequence[str], ids: _Ids, errors: _Collector
) -> tuple[Mapping[str, Any], str]:
    """An element of a list of features, products, plans or add-ons, and its id. The id is
    claimed before unknown keys are reported, so references to it do not fail as well."""
    if not isinstance(raw, Mapping):
        raise _bad(f"must be an object; got {type(raw).__name__}", path)
    item_id = ids.claim(raw.get("id"), path)
    return _object(raw, path, allowed, errors), item_id


def _list(value: Any, path: Path) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise _bad(f"must be a list; got {type(value).__name__}", path)
    return value


def _bool(value: Any, default: bool, path: Path) -> bool:
    if value is None:
        return default
    if not isinstance(value, bool):
        raise _bad(f"must be true or false; got {value!r}", path)
    return value


class _Ids:
    """Ids seen so far of one entity type: a second occurrence is DUPLICATE_ID."""

    def __init__(self, what: str) -> None:
        self.what = what
        self.seen: dict[str, Path] = {}

    def claim(self, value: Any, path: Path) -> str:
        item_id = rules.check_id(value, [*path, "id"], f"{self.what} id")
        if item_id in self.seen:
            raise DomainError(
                ErrorCode.DUPLICATE_ID,
                f"{self.what} {item_id!r} appears twice (first at {_where(self.seen[item_id])})",
                [*path, "id"],
            )
        self.seen[item_id] = path
        return item_id


def read_document(document: Any) -> DeclaredCatalog:
    """Check a catalog document completely; return the catalog it declares, or raise
    DomainError / DomainErrors listing what is wrong (nothing has been written)."""
    errors = _Collector()
    top = _object(document, [], TOP_KEYS)
    version = top.get("version", DOCUMENT_VERSION)
    if version != DOCUMENT_VERSION or isinstance(version, bool):
        raise _bad(f"unsupported document version {version!r}; expected 1", ["version"])
    raw_features = _list(top.get("features"), ["features"])
    raw_products = _list(top.get("products"), ["products"])

    features: list[DeclaredFeature] = []
    feature_ids = _Ids("feature")
    for i, raw in enumerate(raw_features):
        path: Path = ["features", i]
        with errors.check():
            raw, _ = _element(raw, path, rules.FEATURE_KEYS, feature_ids, errors)
            known = {k: v for k, v in raw.items() if k in rules.FEATURE_KEYS}
            features.append(DeclaredFeature(path, rules.canonical_feature(known, path)))
    by_id = {f.id: f.definition for f in features}
    declared = set(feature_ids.seen)  # features declared, even the invalid ones

    products: list[DeclaredProduct] = []
    ids = {"product": _Ids("product"), PLAN: _Ids("plan"), ADDON: _Ids("add-on")}
    for i, raw in enumerate(raw_products):
        with errors.check():
            product = _read_product(raw, ["products", i], ids, by_id, declared, errors)
            if product is not None:
                products.append(product)
        if len(errors.errors) >= MAX_ERRORS:
            break
    errors.raise_if_any()
    return DeclaredCatalog(features, products)


def _read_product(
    raw: Any,
    path: Path,
    ids: dict[str, _Ids],
    features: Mapping[str, Mapping[str, Any]],
    known_features: set[str],
    errors: _Collector,
) -> DeclaredProduct | None:
    raw, product_id = _element(raw, path, PRODUCT_KEYS, ids["product"], errors)
    fields: dict[str, Any] = {}
    with errors.check():  # a mistake here should not hide those in the plans
        fields = {
            "name": rules.check_name(raw.get("name"), [*path, "name"], product_id),
            "description": rules.check_name(raw.get("description"), [*path, "description"]),
            "multipleSubscriptions": _bool(
                raw.get("multipleSubscriptions"), False, [*path, "multipleSubscriptions"]
            ),
            "downgradeToDefaultPlan": _bool(
                raw.get("downgradeToDefaultPlan"), True, [*path, "downgradeToDefaultPlan"]
            ),
        }
    raw_plans = _list(raw.get("plans"), [*path, "plans"])
    raw_addons = _list(raw.get("addons"), [*path, "addons"])

    # First pass over plans: their ids, so parents and compatible plans can be resolved.
    plan_ids: dict[str, int] = {}
    for j, raw_plan in enumerate(raw_plans):
        ppath: Path = [*path, "plans", j]
        with errors.check():
            _, plan_id = _element(
                raw_plan, ppath, (*PACKAGE_KEYS, *PLAN_CONTENT_KEYS), ids[PLAN], errors
            )
            plan_ids[plan_id] = j

    default_plan = raw.get("defaultPlan")
    if default_plan is not None and (
        not isinstance(default_plan, str) or default_plan not in plan_ids
    ):
        errors.add(
            ErrorCode.PLAN_NOT_FOUND,
            f"default plan {default_plan!r} is not a plan of product {product_id!r}",
            [*path, "defaultPlan"],
        )

    context = _PackageContext(features, known_features, plan_ids, errors)
    plans: dict[str, DeclaredPackage] = {}
    for plan_id, j in plan_ids.items():
        with errors.check():
            plans[plan_id] = _read_package(PLAN, raw_plans[j], [*path, "plans", j], context)
    order = _parents_first(plans, plan_ids, [*path, "plans"], errors)

    addons: list[DeclaredPackage] = []
    for j, raw_addon in enumerate(raw_addons):
        apath: Path = [*path, "addons", j]
        with errors.check():
            _element(raw_addon, apath, (*PACKAGE_KEYS, *ADDON_CONTENT_KEYS), ids[ADDON], errors)
            addons.append(_read_package(ADDON, raw_addon, apath, context))
    return DeclaredProduct(
        path, product_id, fields, default_plan, [plans[p] for p in order], addons
    )


@dataclass
class _PackageContext:
    features: Mapping[str, Mapping[str, Any]]
    known_features: set[str]
    plan_ids: Mapping[str, int]  # plans of the product in the document
    errors: _Collector


def _read_package(
    kind: str, raw: Mapping[str, Any], path: Path, context: _PackageContext
) -> DeclaredPackage:
    package_id = str(raw["id"])
    name = rules.check_name(raw.get("name"), [*path, "name"], package_id)
    description = rules.check_name(raw.get("description"), [*path, "description"])
    errors = context.errors
    custom = False
    if kind == PLAN:
        pricing = raw.get("pricingType")
        if pricing is not None:
            with errors.check():
                rules.check_choice(pricing, rules.PRICING_TYPES, [*path, "pricingType"])
        custom = pricing == "CUSTOM"
        parent = raw.get("parent")
        if parent is not None and (not isinstance(parent, str) or parent not in context.plan_ids):
            errors.add(
                ErrorCode.PLAN_NOT_FOUND,
                f"parent {parent!r} is not a plan of this product in the document",
                [*path, "parent"],
            )
        with errors.check():
            rules.canonical_trial(raw.get("trial"), [*path, "trial"])
        content = {key: raw.get(key) for key in PLAN_CONTENT_KEYS}
    else:
        quantity = raw.get("maxQuantity")
        if quantity is not None and (
            isinstance(quantity, bool) or not isinstance(quantity, int) or quantity < 1
        ):
            errors.add(
                ErrorCode.INVALID_CATALOG,
                "maxQuantity must be a whole number >= 1",
                [*path, "maxQuantity"],
            )
        compatible = raw.get("compatiblePlans")
        with errors.check():
            for i, plan_id in enumerate(_list(compatible, [*path, "compatiblePlans"])):
                if not isinstance(plan_id, str) or plan_id not in context.plan_ids:
                    errors.add(
                        ErrorCode.PLAN_NOT_FOUND,
                        f"{plan_id!r} is not a plan of this product in the document",
                        [*path, "compatiblePlans", i],
                    )
        content = {key: raw.get(key) for key in ADDON_CONTENT_KEYS}
        content["maxQuantity"] = 1 if quantity is None else quantity

    entitlements = raw.get("entitlements")
    if entitlements is not None and not isinstance(entitlements, Mapping):
        errors.add(
            ErrorCode.INVALID_CATALOG,
            "entitlements must map feature ids to options",
            [*path, "entitlements"],
        )
    entitlements = entitlements if isinstance(entitlements, Mapping) else {}
    for feature_id, options in entitlements.items():
        epath: Path = [*path, "entitlements", str(feature_id)]
        feature = context.features.get(feature_id)
        if feature is None:
            if feature_id not in context.known_features:
                errors.add(
                    ErrorCode.FEATURE_NOT_FOUND,
                    f"feature {feature_id!r} is not in the document's features",
                    epath,
                )
            continue
        with errors.check():
            rules.canonical_entitlement(
                options, feature, epath, on_addon=kind == ADDON, custom_plan=custom
            )

    def feature_type(feature_id: str) -> str | None:
        found = context.features.get(feature_id)
        return None if found is None else str(found["type"])

    prices: list[Any] = []
    with errors.check():
        prices = _list(raw.get("prices"), [*path, "prices"])
    for i, price in enumerate(prices):
        with errors.check():
            catalog_prices.canonical_price(price, [*path, "prices", i], feature_type)
    content["entitlements"] = dict(entitlements)
    content["prices"] = list(prices)
    return DeclaredPackage(kind, path, package_id, name, description, content)


def _parents_first(
    plans: Mapping[str, DeclaredPackage],
    plan_ids: Mapping[str, int],
    path: Path,
    errors: _Collector,
) -> list[str]:
    """Plans of one product, each after its parent (document order otherwise). Reports
    parent cycles inside the document as CIRCULAR_PLAN_PARENT."""
    parent_of: dict[str, str | None] = {}
    for plan_id in plan_ids:
        parent = plans[plan_id].content.get("parent") if plan_id in plans else None
        parent_of[plan_id] = parent if isinstance(parent, str) and parent in plan_ids else None
    in_cycle: set[str] = set()
    for plan_id in plan_ids:
        if plan_id in in_cycle:
            continue
        cycle = rules.find_parent_cycle(plan_id, parent_of.get)
        if cycle is not None:
            members = cycle[cycle.index(cycle[-1]) :]
            in_cycle.update(members)
            errors.add(
                ErrorCode.CIRCULAR_PLAN_PARENT,
                "parent plans form a cycle: " + " -> ".join(members),
                [*path, plan_ids[members[0]], "parent"],
            )
    order: list[str] = []
    placed: set[str] = set()

    def place(plan_id: str) -> None:
        if plan_id in placed or plan_id in in_cycle or plan_id not in plans:
            return
        parent = parent_of[plan_id]
        if parent is not None:
            place(parent)
        placed.add(plan_id)
        order.append(plan_id)

    for plan_id in plan_ids:
        place(plan_id)
    return order


# --- describing differences ---------------------------------------------------------------


def changed_keys(old: Mapping[str, Any] | None, new: Mapping[str, Any]) -> list[str]:
    """Top-level keys whose values differ; entitlements are told apart per feature."""
    old = old or {}
    out: list[str] = []
    for key in sorted(set(old) | set(new)):
        before, after = old.get(key), new.get(key)
        if before == after:
            continue
        if key == "entitlements" and isinstance(before, Mapping) and isinstance(after, Mapping):
            out.extend(
                f"entitlements.{f}"
                for f in sorted(set(before) | set(after))
                if before.get(f) != after.get(f)
            )
        else:
            out.append(key)
    return out


def describe(changed: Sequence[str], *, restored: bool = False) -> str | None:
    parts = ["unarchived"] if restored else []
    if changed:
        parts.append("changed: " + ", ".join(changed))
    return "; ".join(parts) or None
