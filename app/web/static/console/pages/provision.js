// Provisioning a deal: customer, plan (a custom plan asks for each variable value), add-ons
// and quantities, price overrides, billing by invoice with payment terms, a live preview of
// the charges (previewSubscription: priced, nothing stored), then confirm (provisionCustomer
// with the subscription: one transaction). Also: change plan now or at period end.

import { useEffect, useState } from "../vendor/hooks.js";
import { gql } from "../api.js";
import {
  html,
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
} from "../ui.js";
import { resolvedEntitlements } from "./catalog.js";

export function ProvisionPage() {
  const result = useQuery("ProvisionOptions");
  return html`<section>
    <h1>Provision a deal</h1>
    <${Loading} result=${result}>${(data) => html`<${DealForm} data=${data} />`}<//>
  </section>`;
}

/** Error paths of provisionCustomer are under `subscription`; the form's are not. */
function relative(errors) {
  return errors.map((e) => ({
    ...e,
    field: e.field && e.field[0] === "subscription" ? e.field.slice(1) : e.field,
  }));
}

function subscriptionFields(v, plan, variables, featureTypes) {
  const sub = { planId: v.planId, billingPeriod: v.billingPeriod };
  if (v.replace) {
    sub.subscriptionId = v.replace;
    sub.changeTiming = v.changeTiming;
  }
  const ents = variables
    .map(({ ent }) => {
      const raw = (v.values || {})[ent.featureId];
      if (raw === undefined || raw === "") return null;
      const e = { featureId: ent.featureId };
      if (String(raw).toLowerCase() === "unlimited") e.unlimited = true;
      else if (featureTypes[ent.featureId] === "CONFIGURATION") e.value = Number(raw);
      else e.limit = Number(raw);
      return e;
    })
    .filter(Boolean);
  if (ents.length) sub.entitlements = ents;
  const addons = Object.entries(v.addons || {})
    .filter(([, q]) => Number(q) > 0)
    .map(([addonId, q]) => ({ addonId, quantity: Number(q) }));
  if (addons.length) sub.addons = addons;
  const overrides = [];
  const currency = v.currency || null;
  if (v.baseOverride !== "" && v.baseOverride !== undefined) overrides.push({ amount: String(v.baseOverride), currency });
  for (const [addonId, amount] of Object.entries(v.addonOverrides || {})) {
    if (amount !== "" && amount !== undefined) overrides.push({ addonId, amount: String(amount), currency });
  }
  if (overrides.length) sub.priceOverrides = overrides;
  if (v.billingMode === "INVOICE") {
    sub.billing = { mode: "INVOICE", paymentTermsDays: v.paymentTermsDays === "" ? null : Number(v.paymentTermsDays) };
  }
  return sub;
}

function DealForm({ data }) {
  const params = new URLSearchParams(window.location.search);
  const plans = edges(data.plans).filter((p) => !p.isArchived && p.version !== null);
  const plansById = Object.fromEntries(edges(data.plans).map((p) => [p.id, p]));
  const featureTypes = Object.fromEntries(edges(data.features).map((f) => [f.id, f.type]));
  const form = useForm("provision", {
    customerId: params.get("customer") || "",
    name: "",
    email: "",
    planId: (plans.find((p) => p.pricingType === "CUSTOM") || plans[0] || {}).id || "",
    billingPeriod: "MONTHLY",
    values: {},
    addons: {},
    baseOverride: "",
    currency: "USD",
    addonOverrides: {},
    billingMode: "INVOICE",
    paymentTermsDays: "30",
    replace: params.get("replace") || "",
    changeTiming: "IMMEDIATE",
  });
  const v = form.values;
  const plan = plansById[v.planId];
  const variables = plan ? resolvedEntitlements(plan, plansById).filter(({ ent }) => ent.isVariable) : [];
  const addons = edges(data.addons).filter(
    (a) => !a.isArchived && a.version !== null && plan && a.productId === plan.productId &&
      (!a.compatiblePlanIds.length || a.compatiblePlanIds.includes(plan.id)),
  );
  const [preview, setPreview] = useState(null);
  const setIn = (group, key, value) => form.set(group, { ...(v[group] || {}), [key]: value });

  // The live preview: priced on every change (debounced), nothing stored.
  useEffect(() => {
    if (!v.planId || !v.customerId) {
      setPreview(null);
      return undefined;
    }
    let live = true;
    const timer = setTimeout(async () => {
      try {
        const input = { customerId: v.customerId, ...subscriptionFields(v, plan, variables, featureTypes) };
        const out = await gql("PreviewSubscription", { input });
        if (live) setPreview(out.previewSubscription);
      } catch (e) {
        if (live) setPreview({ errors: [{ code: "REQUEST_FAILED", message: e.message }], lines: [] });
      }
    }, 250);
    return () => {
      live = false;
      clearTimeout(timer);
    };
  }, [JSON.stringify(v)]);

  const onSubmit = async (ev) => {
    ev.preventDefault();
    let done = null;
    const ok = await form.submit(async (vals) => {
      const input = { customerId: vals.customerId, subscription: subscriptionFields(vals, plan, variables, featureTypes) };
      if (vals.name) input.name = vals.name;
      if (vals.email) input.email = vals.email;
      const out = await gql("ProvisionCustomer", { input });
      done = out.provisionCustomer.customer;
      return relative(out.provisionCustomer.errors);
    });
    if (ok && done) navigate("/customers/" + encodeURIComponent(done.id));
  };

  // The API's error paths index the lists as sent: map them back to the inputs.
  const sent = subscriptionFields(v, plan, variables, featureTypes);
  const at = (list, test) => {
    const i = (list || []).findIndex(test);
    return i < 0 ? "-" : String(i);
  };
  const entPath = (featureId) => "entitlements." + at(sent.entitlements, (e) => e.featureId === featureId);
  const addonPath = (id) => "addons." + at(sent.addons, (a) => a.addonId === id);
  const overridePath = (id) => "priceOverrides." + at(sent.priceOverrides, (o) => (o.addonId || null) === id);
  const exactly = (path) => form.errors.filter((e) => e.field && e.field.join(".") === path);

  const handled = ["customerId", "name", "email", "planId", "billingPeriod", "entitlements", "addons", "priceOverrides", "billing"];
  return html`<form class="form deal" id="deal-form" onSubmit=${onSubmit}>
    <${ErrorText} errors=${otherErrors(form.errors, handled)} />
    <fieldset><legend>Customer</legend>
      <${Field} form=${form} name="customerId" label="Customer id" hint="an existing customer, or a new id" required />
      <${Field} form=${form} name="name" label="Name (new customers)" />
      <${Field} form=${form} name="email" label="Email (new customers)" type="email" />
    </fieldset>
    <fieldset><legend>Plan</legend>
      ${v.replace
        ? html`<p>Changing subscription <code>${v.replace}</code>:
            <select name="changeTiming" value=${v.changeTiming} onChange=${(ev) => form.set("changeTiming", ev.target.value)}>
              <option value="IMMEDIATE">now</option><option value="END_OF_PERIOD">at the end of the period</option>
            </select></p>`
        : null}
      <${Field} form=${form} name="planId" label="Plan">
        <select id="f-planId" name="planId" value=${v.planId}
            onChange=${(ev) => form.setValues({ ...v, planId: ev.target.value, values: {}, addons: {}, addonOverrides: {} })}>
          ${plans.map((p) => html`<option value=${p.id}>${p.name} (${p.pricingType.toLowerCase()})</option>`)}
        </select><//>
      <${Field} form=${form} name="billingPeriod" label="Billing period">
        <select id="f-billingPeriod" value=${v.billingPeriod} onChange=${(ev) => form.set("billingPeriod", ev.target.value)}>
          <option value="MONTHLY">monthly</option><option value="ANNUALLY">annually</option>
        </select><//>
      ${variables.length
        ? html`<h3>Negotiated values</h3><${ErrorText} errors=${exactly("entitlements")} />${variables.map(({ ent }) => {
            const errs = errorsFor(form.errors, entPath(ent.featureId));
            return html`<div class=${"field" + (errs.length ? " has-error" : "")}>
              <label for=${"value-" + ent.featureId}>${ent.featureId} <small class="muted">plan default: ${limitText(ent)}</small></label>
              <input id=${"value-" + ent.featureId} name=${"values." + ent.featureId} value=${(v.values || {})[ent.featureId] || ""}
                placeholder="a number, or unlimited" onInput=${(ev) => setIn("values", ent.featureId, ev.target.value)} />
              <${ErrorText} errors=${errs} />
            </div>`;
          })}`
        : null}
    </fieldset>
    <fieldset><legend>Add-ons</legend>
      <${ErrorText} errors=${exactly("addons")} />
      ${addons.length ? null : html`<p class="muted">no add-on fits this plan</p>`}
      ${addons.map((a) => {
        const qtyErrors = errorsFor(form.errors, addonPath(a.id));
        const priceErrors = errorsFor(form.errors, overridePath(a.id));
        return html`<div class="row" data-addon=${a.id}>
          <label class=${"cell" + (qtyErrors.length ? " has-error" : "")}>${a.name} <small class="muted">max ${a.maxQuantity}</small>
            <input type="number" min="0" name=${"addons." + a.id} value=${(v.addons || {})[a.id] || 0}
              onInput=${(ev) => setIn("addons", a.id, ev.target.value)} /><${ErrorText} errors=${qtyErrors} /></label>
          <label class=${"cell" + (priceErrors.length ? " has-error" : "")}>price override <input name=${"addonOverrides." + a.id} size="8" value=${(v.addonOverrides || {})[a.id] || ""}
              onInput=${(ev) => setIn("addonOverrides", a.id, ev.target.value)} /><${ErrorText} errors=${priceErrors} /></label>
        </div>`;
      })}
    </fieldset>
    <fieldset><legend>Price and billing</legend>
      <${Field} form=${form} name="baseOverride" path=${overridePath(null)} label="Negotiated base price per period"
        hint=${plan && plan.prices.length ? "list price: " + plan.prices.map((p) => money(p.amount, p.currency)).join(", ") : "custom plans have no list price"} />
      <${ErrorText} errors=${exactly("priceOverrides")} />
      <${Field} form=${form} name="currency" path="priceOverrides.-" label="Currency of negotiated prices" size="4" />
      <${Field} form=${form} name="billingMode" path="billing.mode" label="Billing">
        <select id="f-billingMode" value=${v.billingMode} onChange=${(ev) => form.set("billingMode", ev.target.value)}>
          <option value="INVOICE">by invoice</option><option value="EXTERNAL">external (another billing system)</option>
        </select><//>
      ${v.billingMode === "INVOICE"
        ? html`<${Field} form=${form} name="paymentTermsDays" path="billing" label="Payment terms (days)" type="number" min="0" />`
        : null}
    </fieldset>
    <${Preview} preview=${preview} overridden=${v.baseOverride !== ""}
      overriddenAddons=${Object.keys(v.addonOverrides || {}).filter((k) => v.addonOverrides[k] !== "")} />
    <p><button type="submit" id="confirm-deal" disabled=${form.busy}>Confirm the deal</button></p>
  </form>`;
}

function Preview({ preview, overridden, overriddenAddons = [] }) {
  if (!preview) return html`<section class="card preview"><h2>Charges</h2><p class="muted">choose a customer and a plan</p></section>`;
  return html`<section class="card preview" id="preview">
    <h2>Charges per period ${preview.periodStart ? html`<small class="muted">${day(preview.periodStart)} – ${day(preview.periodEnd)}</small>` : null}</h2>
    ${preview.errors && preview.errors.length
      ? html`<${ErrorText} errors=${preview.errors} />`
      : html`<table class="grid"><thead><tr><th>line</th><th>qty</th><th>unit</th><th>amount</th></tr></thead>
          <tbody>${preview.lines.map((l) => html`<tr>
            <td>${l.description}${(overridden && l.kind === "BASE") || (l.kind === "ADDON" && overriddenAddons.includes(l.addonId))
              ? html` <span class="tag overridden">overridden</span>` : null}</td>
            <td>${l.quantity}</td><td>${money(l.unitAmount, preview.currency)}</td><td>${money(l.amount, preview.currency)}</td></tr>`)}</tbody>
          <tfoot><tr><th colspan="3">total</th><th id="preview-total">${money(preview.total, preview.currency)}</th></tr></tfoot></table>`}
  </section>`;
}
