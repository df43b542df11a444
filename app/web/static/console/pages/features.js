// Features: create one (BOOLEAN, CONFIGURATION with a NUMBER or ENUM value, METERED with its
// unit and, optionally, a meter fed by raw events), edit it (its type and value type are fixed
// once created: plans were validated against them), archive it. Every API error is shown next
// to the field it names, with its code; a refused change writes nothing (one mutation each).

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
  when,
} from "../ui.js";

const TYPES = ["METERED", "BOOLEAN", "CONFIGURATION"];
const VALUE_TYPES = ["NUMBER", "ENUM"];
const AGGREGATIONS = ["COUNT", "SUM", "MAX", "UNIQUE_COUNT", "LATEST"];
const OPERATORS = ["IN", "NOT_IN", "EQUALS", "NOT_EQUALS"];

/** "a, b ,c" -> ["a", "b", "c"] */
export function splitList(text) {
  return (text || "").split(",").map((s) => s.trim()).filter(Boolean);
}

/** A select bound to form value `name`, with the errors of `path` (default `name`). */
export function Choice({ form, name, label, options, path, hint, disabled }) {
  return html`<${Field} form=${form} name=${name} label=${label} path=${path} hint=${hint}>
    <select id=${"f-" + name} name=${name} value=${form.values[name]} disabled=${disabled}
        onChange=${(ev) => form.set(name, ev.target.value)}>
      ${options.map((o) =>
        typeof o === "string"
          ? html`<option value=${o}>${o}</option>`
          : html`<option value=${o.value}>${o.label}</option>`,
      )}
    </select><//>`;
}

/** A checkbox bound to form value `name`, with the errors of `path` (default `name`). */
export function Check({ form, name, label, path, hint, exact = false }) {
  const at = path || name;
  const errs = exact
    ? form.errors.filter((e) => e.field && e.field.join(".") === at)
    : errorsFor(form.errors, at);
  return html`<div class=${"field" + (errs.length ? " has-error" : "")}>
    <label class="check"><input type="checkbox" id=${"f-" + name} name=${name}
      checked=${!!form.values[name]} onChange=${(ev) => form.set(name, ev.target.checked)} />
      ${" "}${label}</label>
    ${hint ? html`<small class="muted">${hint}</small>` : null}
    <${ErrorText} errors=${errs} />
  </div>`;
}

const EMPTY_FILTER = { dimension: "", operator: "IN", values: "" };

const NEW_FEATURE = {
  id: "",
  type: "METERED",
  name: "",
  description: "",
  unit: "",
  unitPlural: "",
  valueType: "NUMBER",
  enumValues: "",
  metered: false,
  eventName: "",
  aggregation: "COUNT",
  field: "",
  filters: [],
};

function featureToValues(f) {
  const m = f.meter;
  return {
    ...NEW_FEATURE,
    id: f.id,
    type: f.type,
    name: f.name,
    description: f.description,
    unit: f.unit || "",
    unitPlural: f.unitPlural || "",
    valueType: f.valueType || "NUMBER",
    enumValues: (f.enumValues || []).join(", "),
    metered: !!m,
    eventName: m ? m.eventName : "",
    aggregation: m ? m.aggregation : "COUNT",
    field: (m && m.field) || "",
    filters: m
      ? m.filters.map((x) => ({ dimension: x.dimension, operator: x.operator, values: x.values.join(", ") }))
      : [],
  };
}

/** The form's values as CreateFeatureInput (isNew) or UpdateFeatureInput: only the options of
 * the feature's type are sent; an emptied unit or an unticked meter is sent as null (removed). */
export function featureInput(v, isNew) {
  const input = { id: v.id, name: v.name.trim() ? v.name : null, description: v.description };
  if (isNew) input.type = v.type;
  if (v.type === "METERED") {
    input.unit = v.unit.trim() ? v.unit : null;
    input.unitPlural = v.unitPlural.trim() ? v.unitPlural : null;
    input.meter = v.metered
      ? {
          eventName: v.eventName,
          aggregation: v.aggregation,
          field: v.aggregation === "COUNT" ? null : v.field || null,
          // Every row is sent, empty ones too: the API's error then names the row shown.
          filters: v.filters.map((x) => ({ dimension: x.dimension, operator: x.operator, values: splitList(x.values) })),
        }
      : null;
  }
  if (v.type === "CONFIGURATION") {
    if (isNew) input.valueType = v.valueType;
    if (v.valueType === "ENUM") input.enumValues = splitList(v.enumValues);
  }
  return input;
}

function FilterRows({ form }) {
  const rows = form.values.filters || [];
  const update = (i, key, value) =>
    form.set("filters", rows.map((r, j) => (j === i ? { ...r, [key]: value } : r)));
  const cell = (i, key, label, control) => {
    const errs = errorsFor(form.errors, `meter.filters.${i}.${key}`);
    return html`<label class=${"cell" + (errs.length ? " has-error" : "")}>${label} ${control}<${ErrorText} errors=${errs} /></label>`;
  };
  return html`<fieldset class="rows" id="rows-filters">
    <legend>Event filters <small class="muted">events must match all of them</small></legend>
    <${ErrorText} errors=${errorsFor(form.errors, "meter.filters").filter((e) => e.field.length <= 2)} />
    ${rows.map((row, i) => html`<div class="row" data-row=${i}>
      ${cell(i, "dimension", "dimension", html`<input name=${`filters.${i}.dimension`} value=${row.dimension} size="12"
          onInput=${(ev) => update(i, "dimension", ev.target.value)} />`)}
      ${cell(i, "operator", "operator", html`<select name=${`filters.${i}.operator`} value=${row.operator}
          onChange=${(ev) => update(i, "operator", ev.target.value)}>
          ${OPERATORS.map((o) => html`<option value=${o}>${o}</option>`)}</select>`)}
      ${cell(i, "values", "values", html`<input name=${`filters.${i}.values`} value=${row.values} size="18"
          placeholder="comma-separated" onInput=${(ev) => update(i, "values", ev.target.value)} />`)}
      <button type="button" class="link" onClick=${() => form.set("filters", rows.filter((_, j) => j !== i))}>remove</button>
    </div>`)}
    <button type="button" class="secondary" id="add-filters"
        onClick=${() => form.set("filters", [...rows, { ...EMPTY_FILTER }])}>Add a filter</button>
  </fieldset>`;
}

const HANDLED = ["id", "type", "name", "description", "unit", "unitPlural", "valueType", "enumValues", "meter"];

function FeatureFields({ form, isNew }) {
  const v = form.values;
  return html`
    <${ErrorText} errors=${otherErrors(form.errors, isNew ? HANDLED : HANDLED.filter((p) => p !== "id"))} />
    ${isNew
      ? html`<${Field} form=${form} name="id" label="Feature id" required
          hint="what the API and the SDKs name it: letters, digits, '_', '-', '.', ':'" />`
      : null}
    <${Choice} form=${form} name="type" label="Type" options=${TYPES} disabled=${!isNew}
      hint=${isNew ? "BOOLEAN: on or off · CONFIGURATION: a value per plan · METERED: usage against a limit" : "fixed once created"} />
    <${Field} form=${form} name="name" label="Name" hint="empty: the id" />
    <${Field} form=${form} name="description" label="Description" />
    ${v.type === "METERED"
      ? html`
        <${Field} form=${form} name="unit" label="Unit" placeholder="seat" />
        <${Field} form=${form} name="unitPlural" label="Unit, plural" placeholder="seats" />
        <${Check} form=${form} name="metered" label="Usage comes from raw events (a meter)" path="meter" exact=${true}
          hint="otherwise the application reports usage itself (reportUsage)" />
        ${v.metered
          ? html`<fieldset class="meter" id="meter">
              <legend>Meter</legend>
              <${Field} form=${form} name="eventName" label="Event name" path="meter.eventName" placeholder="api_call" />
              <${Choice} form=${form} name="aggregation" label="Aggregation" path="meter.aggregation" options=${AGGREGATIONS} />
              ${v.aggregation !== "COUNT"
                ? html`<${Field} form=${form} name="field" label="Event dimension aggregated" path="meter.field" />`
                : null}
              <${FilterRows} form=${form} />
            </fieldset>`
          : null}`
      : null}
    ${v.type === "CONFIGURATION"
      ? html`
        <${Choice} form=${form} name="valueType" label="Value type" options=${VALUE_TYPES} disabled=${!isNew}
          hint=${isNew ? "NUMBER: a number per plan · ENUM: one of a list" : "fixed once created"} />
        ${v.valueType === "ENUM"
          ? html`<${Field} form=${form} name="enumValues" label="Allowed values" hint="comma-separated" />`
          : null}`
      : null}`;
}

export function NewFeaturePage() {
  const form = useForm("new-feature", NEW_FEATURE);
  const onSubmit = async (ev) => {
    ev.preventDefault();
    let created = null;
    const ok = await form.submit(async (v) => {
      const out = await gql("CreateFeature", { input: featureInput(v, true) });
      created = out.createFeature.feature;
      return out.createFeature.errors;
    });
    if (ok && created) navigate("/catalog/features/" + encodeURIComponent(created.id));
  };
  return html`<section>
    <h1>New feature</h1>
    <p><${Link} to="/catalog">← Catalog<//></p>
    <form class="form" id="feature-form" onSubmit=${onSubmit}>
      <${FeatureFields} form=${form} isNew=${true} />
      <p><button type="submit" id="save-feature" disabled=${form.busy}>Create feature</button></p>
    </form>
  </section>`;
}

function meterText(m) {
  if (!m) return "reported by the application";
  const of = m.field ? ` of ${m.field}` : "";
  const where = m.filters.length
    ? " where " + m.filters.map((f) => `${f.dimension} ${f.operator} ${f.values.join(", ")}`).join(" and ")
    : "";
  return `${m.aggregation}${of} of ${m.eventName} events${where}`;
}

export function FeaturePage({ params }) {
  const [id] = params;
  const detail = useQuery("FeatureDetail", { id });
  return html`<section>
    <p><${Link} to="/catalog">← Catalog<//></p>
    <${Loading} result=${detail}>${(d) => {
      const f = d.feature;
      if (!f) return html`<h1>Feature ${id}</h1><p class="error"><code>FEATURE_NOT_FOUND</code> no feature ${id} in this environment.</p>`;
      return html`
        <h1>${f.name} <small class="muted">${f.id}</small>
          ${f.isArchived ? html` <span class="tag danger" id="archived">archived</span>` : null}</h1>
        <p id="feature-summary">${f.type}
          ${f.type === "METERED" ? html` · unit ${f.unit || "—"}${f.unitPlural ? ` / ${f.unitPlural}` : ""} · usage ${meterText(f.meter)}` : null}
          ${f.type === "CONFIGURATION" ? html` · ${f.valueType}${f.enumValues ? ": " + f.enumValues.join(", ") : ""}` : null}
          <br /><small class="muted">created ${when(f.createdAt)} · changed ${when(f.updatedAt)}</small></p>
        <h2>Edit</h2>
        <${EditFeatureForm} key=${f.id} feature=${f} onDone=${detail.reload} />
        ${f.isArchived
          ? html`<p class="muted">Archived: plans and add-ons can no longer grant it, and it is left out of the catalog's lists
              (versions published before keep it).</p>`
          : html`<${ArchiveBox} what="feature" id=${f.id} op="ArchiveFeature" field="archiveFeature"
              warning="Plans and add-ons can no longer grant it (published versions that do keep it). The API refuses while a live plan or add-on still grants it."
              onDone=${detail.reload} />`}`;
    }}<//>
  </section>`;
}

function EditFeatureForm({ feature, onDone }) {
  const form = useForm("edit-feature-" + feature.id, featureToValues(feature));
  const [saved, setSaved] = useState(false);
  const onSubmit = async (ev) => {
    ev.preventDefault();
    setSaved(false);
    const ok = await form.submit(async (v) => {
      const out = await gql("UpdateFeature", { input: featureInput(v, false) });
      return out.updateFeature.errors;
    });
    if (ok) {
      setSaved(true);
      onDone();
    }
  };
  return html`<form class="form" id="feature-form" onSubmit=${onSubmit}>
    <${FeatureFields} form=${form} isNew=${false} />
    <p><button type="submit" id="save-feature" disabled=${form.busy}>Save</button>
      ${saved ? html` <span class="notice" id="saved">Saved.</span>` : null}</p>
  </form>`;
}

/** Archive `id` with `op` (an IdInput mutation whose payload is `field`), after a confirmation
 * that says what it does; the API's errors are shown here. */
export function ArchiveBox({ what, id, op, field, warning, onDone }) {
  const form = useForm(`archive-${what}-${id}`, {});
  const [asking, setAsking] = useState(false);
  const archive = async () => {
    const ok = await form.submit(async () => (await gql(op, { input: { id } }))[field].errors);
    setAsking(false);
    if (ok) onDone();
  };
  return html`<section class="card" id="archive">
    <h2>Archive</h2>
    <${ErrorText} errors=${form.errors} />
    ${asking
      ? html`<p>Archive ${what} <strong>${id}</strong>? ${warning}</p>
        <p class="actions"><button type="button" class="danger" id="confirm-archive" disabled=${form.busy}
            onClick=${archive}>Archive ${what}</button>
          <button type="button" class="secondary" onClick=${() => setAsking(false)}>Cancel</button></p>`
      : html`<p><button type="button" class="danger" id=${"archive-" + what}
          onClick=${() => setAsking(true)}>Archive this ${what}…</button></p>`}
  </section>`;
}
