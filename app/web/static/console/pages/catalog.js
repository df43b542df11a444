// Catalog: features, products, plans (entitlements resolved through parent plans, each marked
// with the plan it comes from), add-ons, prices; drafts, their diff against the published
// version, publishing; the catalog-as-code document with a dry run.

import { useState } from "../vendor/hooks.js";
import { gql } from "../api.js";
import {
  html,
  Link,
  navigate,
  useQuery,
  Loading,
  useForm,
  Field,
  ErrorText,
  otherErrors,
  errorsFor,
  edges,
  limitText,
  money,
  day,
  JsonDiff,
} from "../ui.js";

function priceText(p) {
  const per = p.billingPeriod === "ANNUALLY" ? "/yr" : "/mo";
  const what = p.model === "FLAT_FEE" ? "" : ` ${p.model.toLowerCase()}${p.featureId ? " of " + p.featureId : ""}`;
  if (p.tiers && p.tiers.length) return `tiered (${p.tierMode})${what}`;
  return `${money(p.amount, p.currency)}${per}${what}`;
}

/** Entitlements of `plan` with those of its parents, each {ent, from} (own ones win). */
export function resolvedEntitlements(plan, plansById) {
  const out = new Map();
  const seen = new Set();
  let current = plan;
  while (current && !seen.has(current.id)) {
    seen.add(current.id);
    for (const ent of current.entitlements) {
      if (!out.has(ent.featureId)) out.set(ent.featureId, { ent, from: current.id });
    }
    current = current.parentPlanId ? plansById[current.parentPlanId] : null;
  }
  return [...out.values()];
}

export function EntitlementTable({ rows, planId }) {
  return html`<table class="grid entitlements">
    <thead><tr><th>feature</th><th>limit / value</th><th>reset</th><th>from</th></tr></thead>
    <tbody>${rows.map(
      ({ ent, from }) => html`<tr class=${from !== planId ? "inherited" : ""}>
        <td>${ent.featureId}${ent.isVariable ? html` <span class="tag">variable</span>` : null}</td>
        <td>${limitText(ent)}</td>
        <td>${ent.resetPeriod || ""}</td>
        <td>${from === planId
          ? "this plan"
          : html`<span class="tag inherited-tag">inherited from <${Link} to=${"/catalog/plans/" + from}>${from}<//></span>`}</td>
      </tr>`,
    )}</tbody>
  </table>`;
}

export function CatalogPage() {
  const result = useQuery("Catalog");
  return html`<section>
    <h1>Catalog</h1>
    <p class="actions">
      <${Link} to="/catalog/plans/new" class="button" id="new-plan">New plan<//>
      <${Link} to="/catalog/features/new" class="button" id="new-feature">New feature<//>
      <${Link} to="/catalog/products/new" class="button" id="new-product">New product<//>
      <${Link} to="/catalog/code" class="button secondary">Catalog as code<//>
    </p>
    <${Loading} result=${result}>${(data) => {
      const plans = edges(data.plans);
      const plansById = Object.fromEntries(plans.map((p) => [p.id, p]));
      return html`
        <h2>Features <small>${data.features.totalCount}</small></h2>
        <table class="grid"><thead><tr><th>id</th><th>name</th><th>type</th><th>unit / values</th><th>meter</th></tr></thead>
          <tbody>${edges(data.features).map((f) => html`<tr>
            <td><${Link} to=${"/catalog/features/" + f.id}>${f.id}<//></td><td>${f.name}</td><td>${f.type}</td>
            <td>${f.unitPlural || f.unit || (f.enumValues || []).join(", ")}</td>
            <td>${f.meter ? `${f.meter.aggregation} of ${f.meter.eventName}` : ""}</td></tr>`)}</tbody></table>
        <h2>Products <small>${data.products.totalCount}</small></h2>
        <table class="grid"><thead><tr><th>id</th><th>name</th><th>default plan</th></tr></thead>
          <tbody>${edges(data.products).map((p) => html`<tr>
            <td><${Link} to=${"/catalog/products/" + p.id}>${p.id}<//></td><td>${p.name}</td><td>${p.defaultPlanId || ""}</td></tr>`)}</tbody></table>
        <h2>Plans <small>${data.plans.totalCount}</small></h2>
        <table class="grid" id="plans"><thead><tr><th>plan</th><th>product</th><th>type</th><th>version</th><th>entitlements</th><th>prices</th></tr></thead>
          <tbody>${plans.map((p) => {
            const rows = resolvedEntitlements(p, plansById);
            const inherited = rows.filter((r) => r.from !== p.id).length;
            return html`<tr>
              <td><${Link} to=${"/catalog/plans/" + p.id}>${p.name}<//> <small class="muted">${p.id}</small></td>
              <td>${p.productId}</td><td>${p.pricingType}</td>
              <td>${p.version === null ? "unpublished" : "v" + p.version}${p.hasDraft ? html` <span class="tag">draft</span>` : null}</td>
              <td>${rows.length}${inherited ? html` <small class="muted">(${inherited} inherited${p.parentPlanId ? " from " + p.parentPlanId : ""})</small>` : null}</td>
              <td>${p.prices.map(priceText).join("; ")}</td></tr>`;
          })}</tbody></table>
        <h2>Add-ons <small>${data.addons.totalCount}</small></h2>
        <table class="grid"><thead><tr><th>add-on</th><th>product</th><th>max qty</th><th>entitlements</th><th>prices</th></tr></thead>
          <tbody>${edges(data.addons).map((a) => html`<tr>
            <td><${Link} to=${"/catalog/addons/" + a.id}>${a.name}<//> <small class="muted">${a.id}</small>${a.hasDraft ? html` <span class="tag">draft</span>` : null}</td><td>${a.productId}</td><td>${a.maxQuantity}</td>
            <td>${a.entitlements.map((e) => `${e.featureId} ${e.behavior === "INCREMENT" ? "+" : ""}${limitText(e)}`).join("; ")}</td>
            <td>${a.prices.map(priceText).join("; ")}</td></tr>`)}</tbody></table>`;
    }}<//>
  </section>`;
}

// ------------------------------------------------------------------ plan editing

function entRowsToInput(rows) {
  return rows
    .filter((r) => r.featureId)
    .map((r) => {
      const e = { featureId: r.featureId };
      if (r.unlimited) e.unlimited = true;
      else if (r.limit !== "" && r.limit !== null && r.limit !== undefined) e.limit = Number(r.limit);
      if (r.value !== "" && r.value !== null && r.value !== undefined) e.value = Number(r.value);
      if (r.enumValues) e.enumValues = r.enumValues.split(",").map((s) => s.trim()).filter(Boolean);
      if (r.resetPeriod) e.resetPeriod = r.resetPeriod;
      if (r.softLimit) e.softLimit = true;
      if (r.variable) e.variable = true;
      return e;
    });
}

function priceRowsToInput(rows) {
  return rows
    .filter((r) => r.amount !== "" && r.amount !== undefined)
    .map((r) => {
      const p = { currency: r.currency || "USD", model: r.model || "FLAT_FEE", billingPeriod: r.billingPeriod || "MONTHLY", amount: String(r.amount) };
      if (r.featureId) p.featureId = r.featureId;
      return p;
    });
}

function entToRow(e) {
  return {
    featureId: e.featureId,
    limit: e.usageLimit ?? "",
    unlimited: e.isUnlimited,
    softLimit: e.isSoftLimit,
    value: e.value ?? "",
    enumValues: (e.enumValues || []).join(", "),
    resetPeriod: e.resetPeriod || "",
    variable: e.isVariable,
  };
}

function priceToRow(p) {
  return { model: p.model, billingPeriod: p.billingPeriod, amount: p.amount ?? "", currency: p.currency, featureId: p.featureId || "" };
}

const EMPTY_ENT = { featureId: "", limit: "", unlimited: false, softLimit: false, value: "", enumValues: "", resetPeriod: "", variable: false };
const EMPTY_PRICE = { model: "FLAT_FEE", billingPeriod: "MONTHLY", amount: "", currency: "USD", featureId: "" };

function RowsEditor({ form, name, empty, columns, label }) {
  const rows = form.values[name] || [];
  const update = (i, key, value) => {
    const next = rows.map((r, j) => (j === i ? { ...r, [key]: value } : r));
    form.set(name, next);
  };
  return html`<fieldset class="rows" id=${"rows-" + name}>
    <legend>${label}</legend>
    <${ErrorText} errors=${errorsFor(form.errors, name).filter((e) => !e.field || e.field.length <= 1)} />
    ${rows.map((row, i) => html`<div class="row" data-row=${i}>
      ${columns.map((c) => {
        const value = row[c.key];
        const errs = errorsFor(form.errors, `${name}.${i}.${c.key}`).concat(
          c.key === "featureId" ? errorsFor(form.errors, `${name}.${row.featureId}`) : [],
        );
        let control;
        if (c.options) {
          control = html`<select name=${`${name}.${i}.${c.key}`} value=${value}
              onChange=${(ev) => update(i, c.key, ev.target.value)}>
            ${c.options.map((o) => html`<option value=${o}>${o || "—"}</option>`)}
          </select>`;
        } else if (c.checkbox) {
          control = html`<input type="checkbox" name=${`${name}.${i}.${c.key}`} checked=${!!value}
              onChange=${(ev) => update(i, c.key, ev.target.checked)} />`;
        } else {
          control = html`<input name=${`${name}.${i}.${c.key}`} value=${value ?? ""} size=${c.size || 10}
              placeholder=${c.placeholder || ""} onInput=${(ev) => update(i, c.key, ev.target.value)} />`;
        }
        return html`<label class=${"cell" + (errs.length ? " has-error" : "")}>${c.label} ${control}<${ErrorText} errors=${errs} /></label>`;
      })}
      <button type="button" class="link" onClick=${() => form.set(name, rows.filter((_, j) => j !== i))}>remove</button>
    </div>`)}
    <button type="button" class="secondary" id=${"add-" + name}
        onClick=${() => form.set(name, [...rows, { ...empty }])}>Add</button>
  </fieldset>`;
}

function entColumns(features) {
  return [
    { key: "featureId", label: "feature", options: ["", ...features.map((f) => f.id)] },
    { key: "limit", label: "limit", size: 6 },
    { key: "unlimited", label: "unlimited", checkbox: true },
    { key: "softLimit", label: "soft", checkbox: true },
    { key: "value", label: "value", size: 5 },
    { key: "enumValues", label: "enum values", size: 10 },
    { key: "resetPeriod", label: "reset", options: ["", "HOUR", "DAY", "WEEK", "MONTH", "YEAR"] },
    { key: "variable", label: "variable", checkbox: true },
  ];
}

const PRICE_COLUMNS = [
  { key: "model", label: "model", options: ["FLAT_FEE", "PER_UNIT", "USAGE_BASED"] },
  { key: "billingPeriod", label: "period", options: ["MONTHLY", "ANNUALLY"] },
  { key: "amount", label: "amount", size: 8 },
  { key: "currency", label: "currency", size: 4 },
  { key: "featureId", label: "feature", size: 10 },
];

function PlanFields({ form, data, isNew }) {
  const plans = edges(data.plans);
  const products = edges(data.products);
  const features = edges(data.features);
  const handled = ["id", "name", "description", "productId", "pricingType", "parentPlanId", "entitlements", "prices"];
  return html`
    <${ErrorText} errors=${otherErrors(form.errors, handled)} />
    ${isNew ? html`<${Field} form=${form} name="id" label="Plan id" required />` : null}
    <${Field} form=${form} name="name" label="Name" />
    <${Field} form=${form} name="description" label="Description" />
    ${isNew
      ? html`<${Field} form=${form} name="productId" label="Product">
          <select id="f-productId" name="productId" value=${form.values.productId}
              onChange=${(ev) => form.set("productId", ev.target.value)}>
            ${products.map((p) => html`<option value=${p.id}>${p.name}</option>`)}
          </select><//>`
      : null}
    <${Field} form=${form} name="pricingType" label="Pricing">
      <select id="f-pricingType" name="pricingType" value=${form.values.pricingType}
          onChange=${(ev) => form.set("pricingType", ev.target.value)}>
        ${["FREE", "PAID", "CUSTOM"].map((t) => html`<option value=${t}>${t}</option>`)}
      </select><//>
    <${Field} form=${form} name="parentPlanId" label="Parent plan (included wholly)">
      <select id="f-parentPlanId" name="parentPlanId" value=${form.values.parentPlanId}
          onChange=${(ev) => form.set("parentPlanId", ev.target.value)}>
        <option value="">none</option>
        ${plans.filter((p) => p.id !== form.values.id).map((p) => html`<option value=${p.id}>${p.name}</option>`)}
      </select><//>
    <${RowsEditor} form=${form} name="entitlements" label="Entitlements" empty=${EMPTY_ENT} columns=${entColumns(features)} />
    <${RowsEditor} form=${form} name="prices" label="Prices" empty=${EMPTY_PRICE} columns=${PRICE_COLUMNS} />`;
}

function planInput(v) {
  const input = {
    name: v.name || null,
    description: v.description || null,
    pricingType: v.pricingType,
    parentPlanId: v.parentPlanId || null,
    entitlements: entRowsToInput(v.entitlements || []),
    prices: v.pricingType === "FREE" ? [] : priceRowsToInput(v.prices || []),
  };
  return input;
}

export function NewPlanPage() {
  const result = useQuery("Catalog");
  return html`<section>
    <h1>New plan</h1>
    <${Loading} result=${result}>${(data) => html`<${NewPlanForm} data=${data} />`}<//>
  </section>`;
}

function NewPlanForm({ data }) {
  const products = edges(data.products);
  const form = useForm("new-plan", {
    id: "", name: "", description: "", productId: products[0] ? products[0].id : "",
    pricingType: "PAID", parentPlanId: "", entitlements: [{ ...EMPTY_ENT }], prices: [{ ...EMPTY_PRICE }],
  });
  const onSubmit = async (ev) => {
    ev.preventDefault();
    let created = null;
    const ok = await form.submit(async (v) => {
      const out = await gql("CreatePlan", { input: { id: v.id, productId: v.productId, ...planInput(v) } });
      created = out.createPlan.plan;
      return out.createPlan.errors;
    });
    if (ok && created) navigate("/catalog/plans/" + encodeURIComponent(created.id));
  };
  return html`<form class="form" id="plan-form" onSubmit=${onSubmit}>
    <${PlanFields} form=${form} data=${data} isNew=${true} />
    <p><button type="submit" disabled=${form.busy}>Create draft</button></p>
  </form>`;
}

/** Field-by-field diff of a draft against the version it would replace. */
function versionSummary(v) {
  if (!v) return {};
  return {
    name: v.name,
    description: v.description,
    pricingType: v.pricingType,
    parentPlanId: v.parentPlanId,
    defaultTrial: v.defaultTrial,
    entitlements: Object.fromEntries(v.entitlements.map((e) => [e.featureId, limitText(e) + (e.isVariable ? " (variable)" : "")])),
    prices: v.prices.map(priceText),
    ...(v.maxQuantity !== null && v.maxQuantity !== undefined ? { maxQuantity: v.maxQuantity, compatiblePlanIds: v.compatiblePlanIds } : {}),
  };
}

/** The catalog and one versioned entity's detail (plan, add-on), the editor's toggle and a reload of both. */
function useVersionedDetail(detailQuery, id) {
  const catalog = useQuery("Catalog");
  const detail = useQuery(detailQuery, { id });
  const [editing, setEditing] = useState(false);
  const reload = () => {
    detail.reload();
    catalog.reload();
  };
  return { catalog, detail, editing, setEditing, reload };
}

function notFound(title, code, what, id) {
  return html`<h1>${title} ${id}</h1><p class="error"><code>${code}</code> no ${what} ${id} in this environment.</p>`;
}

/**
 * A versioned entity's prices, its draft (diff against the published version, publish or
 * discard) and the button that opens `editor(onDone)`: the shared end of the plan and add-on pages.
 */
function PricesAndDraft({ entity, kind, page, editor }) {
  const { editing, setEditing, reload } = page;
  const published = entity.versions[0] || null;
  return html`
    <h2>Prices</h2>
    <ul>${entity.prices.map((p) => html`<li>${priceText(p)}</li>`)}</ul>
    ${entity.draft
      ? html`<section class="card" id="draft">
          <h2>Draft <small class="muted">diff against ${published ? "v" + published.version : "nothing published yet"}</small></h2>
          <${JsonDiff} before=${versionSummary(published)} after=${versionSummary(entity.draft)} />
          <${PublishBox} plan=${entity} kind=${kind} onDone=${reload} />
        </section>`
      : null}
    <p><button type="button" class="secondary" id="edit-draft" onClick=${() => setEditing(!editing)}>
      ${editing ? "Close the editor" : entity.draft ? "Edit the draft" : "Edit (creates a draft)"}</button></p>
    ${editing ? editor(() => { setEditing(false); reload(); }) : null}`;
}

export function PlanPage({ params }) {
  const [id] = params;
  const page = useVersionedDetail("PlanDetail", id);
  const { catalog, detail } = page;
  return html`<section>
    <${Loading} result=${detail}>${(d) => {
      const plan = d.plan;
      if (!plan) return notFound("Plan", "PLAN_NOT_FOUND", "plan", id);
      return html`<${Loading} result=${catalog}>${(data) => {
        const plansById = Object.fromEntries(edges(data.plans).map((p) => [p.id, p]));
        const rows = resolvedEntitlements(plansById[plan.id] || plan, plansById);
        return html`
          <h1>${plan.name} <small class="muted">${plan.id}</small></h1>
          <p>${plan.pricingType} plan of ${plan.productId} ·
            ${plan.version === null ? "never published" : "published v" + plan.version}
            ${plan.parentPlanId ? html` · includes <${Link} to=${"/catalog/plans/" + plan.parentPlanId}>${plan.parentPlanId}<//>` : null}</p>
          <h2>Entitlements</h2>
          <${EntitlementTable} rows=${rows} planId=${plan.id} />
          <${PricesAndDraft} entity=${plan} kind="plan" page=${page}
            editor=${(onDone) => html`<${EditPlanForm} plan=${plan} data=${data} onDone=${onDone} />`} />
          <h2>Versions</h2>
          <table class="grid"><thead><tr><th>version</th><th>published</th><th>migrated subscribers</th><th>parent</th></tr></thead>
            <tbody>${plan.versions.map((v) => html`<tr><td>v${v.version}</td><td>${day(v.publishedAt)}</td>
              <td>${v.migrateExistingSubscriptions ? "yes" : "no"}</td>
              <td>${v.parentPlanId ? `${v.parentPlanId} v${v.parentPlanVersion}` : ""}</td></tr>`)}</tbody></table>`;
      }}<//>`;
    }}<//>
  </section>`;
}

const PUBLISH = {
  plan: ["PublishPlan", "publishPlan", "DiscardPlanDraft", "discardPlanDraft"],
  addon: ["PublishAddon", "publishAddon", "DiscardAddonDraft", "discardAddonDraft"],
};

function PublishBox({ plan, onDone, kind = "plan" }) {
  const [publishOp, publishField, discardOp, discardField] = PUBLISH[kind];
  const form = useForm(`publish-${kind}-${plan.id}`, { migrate: false });
  const publish = async (ev) => {
    ev.preventDefault();
    const ok = await form.submit(async (v) => {
      const out = await gql(publishOp, { input: { id: plan.id, migrateExistingSubscriptions: !!v.migrate } });
      return out[publishField].errors;
    });
    if (ok) onDone();
  };
  const discard = async () => {
    const ok = await form.submit(async () => (await gql(discardOp, { input: { id: plan.id } }))[discardField].errors);
    if (ok) onDone();
  };
  return html`<form class="form inline" id="publish-form" onSubmit=${publish}>
    <${ErrorText} errors=${form.errors} />
    <label><input type="checkbox" name="migrate" checked=${form.values.migrate}
      onChange=${(ev) => form.set("migrate", ev.target.checked)} /> migrate existing subscribers to the new version</label>
    <button type="submit" id="publish" disabled=${form.busy}>Publish</button>
    <button type="button" class="secondary" onClick=${discard} disabled=${form.busy}>Discard draft</button>
  </form>`;
}

function EditPlanForm({ plan, data, onDone }) {
  const base = plan.draft || plan.versions[0] || plan;
  const form = useForm("edit-plan-" + plan.id, {
    id: plan.id,
    name: base.name,
    description: base.description,
    pricingType: base.pricingType || plan.pricingType,
    parentPlanId: base.parentPlanId || "",
    entitlements: base.entitlements.map(entToRow),
    prices: base.prices.map(priceToRow),
  });
  const onSubmit = async (ev) => {
    ev.preventDefault();
    const ok = await form.submit(async (v) => {
      const out = await gql("UpdatePlan", { input: { id: plan.id, ...planInput(v) } });
      return out.updatePlan.errors;
    });
    if (ok) onDone();
  };
  return html`<form class="form" id="plan-form" onSubmit=${onSubmit}>
    <${PlanFields} form=${form} data=${data} isNew=${false} />
    <p><button type="submit" disabled=${form.busy}>Save draft</button></p>
  </form>`;
}

// ------------------------------------------------------------------ catalog as code

export function CatalogCodePage() {
  const exported = useQuery("ExportCatalog");
  return html`<section>
    <h1>Catalog as code</h1>
    <p class="muted">The environment's live catalog as a document (applyCatalog). Edit it, run a
      dry run to see what would change, then apply: all or nothing.</p>
    <${Loading} result=${exported}>${(data) => html`<${CatalogCodeForm} initial=${JSON.stringify(data.exportCatalog, null, 2)} />`}<//>
  </section>`;
}

function CatalogCodeForm({ initial }) {
  const form = useForm("catalog-code", { document: initial });
  const [changes, setChanges] = useState(null);
  const run = (dryRun) => async (ev) => {
    ev.preventDefault();
    let parsed;
    try {
      parsed = JSON.parse(form.values.document);
    } catch (e) {
      form.setErrors([{ code: "INVALID_CATALOG", message: "not JSON: " + e.message, field: ["catalog"] }]);
      return;
    }
    await form.submit(async () => {
      const out = await gql("ApplyCatalog", { input: { catalog: parsed, dryRun } });
      setChanges(out.applyCatalog.errors.length ? null : { dryRun, list: out.applyCatalog.changes });
      return out.applyCatalog.errors;
    });
  };
  return html`<form class="form" onSubmit=${run(false)}>
    <${ErrorText} errors=${form.errors} />
    <textarea name="document" rows="24" class="code" value=${form.values.document}
      onInput=${(ev) => form.set("document", ev.target.value)}></textarea>
    <p><button type="button" class="secondary" onClick=${run(true)} disabled=${form.busy}>Dry run</button>
      <button type="submit" disabled=${form.busy}>Apply</button></p>
    ${changes
      ? html`<h2>${changes.dryRun ? "Would change" : "Changed"} (${changes.list.length})</h2>
        <table class="grid"><thead><tr><th>change</th><th>entity</th><th>id</th><th>detail</th></tr></thead>
        <tbody>${changes.list.map((c) => html`<tr><td>${c.kind}</td><td>${c.entity}</td><td>${c.id}</td><td>${c.detail || ""}</td></tr>`)}</tbody></table>`
      : null}
  </form>`;
}

// ------------------------------------------------------------------ add-ons

const ADDON_ENT_EXTRA = { key: "behavior", label: "behavior", options: ["", "INCREMENT", "OVERRIDE"] };

export function AddonPage({ params }) {
  const [id] = params;
  const page = useVersionedDetail("AddonDetail", id);
  const { catalog, detail } = page;
  return html`<section>
    <${Loading} result=${detail}>${(d) => {
      const addon = d.addon;
      if (!addon) return notFound("Add-on", "ADDON_NOT_FOUND", "add-on", id);
      return html`<${Loading} result=${catalog}>${(data) => html`
        <h1>${addon.name} <small class="muted">${addon.id}</small></h1>
        <p>add-on of ${addon.productId} · at most ${addon.maxQuantity} ·
          ${addon.compatiblePlanIds.length ? "for " + addon.compatiblePlanIds.join(", ") : "for every plan"} ·
          ${addon.version === null ? "never published" : "published v" + addon.version}</p>
        <h2>Entitlements</h2>
        <table class="grid"><thead><tr><th>feature</th><th>limit / value</th><th>behavior</th></tr></thead>
          <tbody>${addon.entitlements.map((e) => html`<tr><td>${e.featureId}</td><td>${limitText(e)}</td><td>${e.behavior || ""}</td></tr>`)}</tbody></table>
        <${PricesAndDraft} entity=${addon} kind="addon" page=${page}
          editor=${(onDone) => html`<${EditAddonForm} addon=${addon} data=${data} onDone=${onDone} />`} />`}<//>`;
    }}<//>
  </section>`;
}

function EditAddonForm({ addon, data, onDone }) {
  const base = addon.draft || addon.versions[0] || addon;
  const form = useForm("edit-addon-" + addon.id, {
    name: base.name,
    description: base.description,
    maxQuantity: String(base.maxQuantity ?? addon.maxQuantity),
    compatiblePlanIds: (base.compatiblePlanIds || addon.compatiblePlanIds || []).join(", "),
    entitlements: base.entitlements.map((e) => ({ ...entToRow(e), behavior: e.behavior || "" })),
    prices: base.prices.map(priceToRow),
  });
  const onSubmit = async (ev) => {
    ev.preventDefault();
    const ok = await form.submit(async (v) => {
      const entitlements = entRowsToInput(v.entitlements || []).map((e, i) => {
        const behavior = (v.entitlements.filter((r) => r.featureId)[i] || {}).behavior;
        return behavior ? { ...e, behavior } : e;
      });
      const input = {
        id: addon.id,
        name: v.name || null,
        description: v.description || null,
        maxQuantity: v.maxQuantity === "" ? null : Number(v.maxQuantity),
        compatiblePlanIds: v.compatiblePlanIds.split(",").map((x) => x.trim()).filter(Boolean),
        entitlements,
        prices: priceRowsToInput(v.prices || []),
      };
      return (await gql("UpdateAddon", { input })).updateAddon.errors;
    });
    if (ok) onDone();
  };
  const handled = ["name", "description", "maxQuantity", "compatiblePlanIds", "entitlements", "prices"];
  return html`<form class="form" id="addon-form" onSubmit=${onSubmit}>
    <${ErrorText} errors=${otherErrors(form.errors, handled)} />
    <${Field} form=${form} name="name" label="Name" />
    <${Field} form=${form} name="description" label="Description" />
    <${Field} form=${form} name="maxQuantity" label="Maximum quantity" type="number" min="1" />
    <${Field} form=${form} name="compatiblePlanIds" label="Compatible plans" hint="plan ids, comma-separated; none: every plan" />
    <${RowsEditor} form=${form} name="entitlements" label="Entitlements"
      empty=${{ ...EMPTY_ENT, behavior: "" }} columns=${[...entColumns(edges(data.features)), ADDON_ENT_EXTRA]} />
    <${RowsEditor} form=${form} name="prices" label="Prices" empty=${EMPTY_PRICE} columns=${PRICE_COLUMNS} />
    <p><button type="submit" disabled=${form.busy}>Save draft</button></p>
  </form>`;
}
