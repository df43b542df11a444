// Customers: search, and one customer's subscriptions, add-ons, promotions, invoices, and
// effective entitlements with the sources that decided each one.

import { useState } from "../vendor/hooks.js";
import { gql } from "../api.js";
import {
  html,
  Link,
  useQuery,
  Loading,
  useForm,
  Field,
  ErrorText,
  otherErrors,
  edges,
  limitText,
  money,
  day,
  UsageBar,
  ColumnChart,
} from "../ui.js";

export function CustomersPage() {
  const params = new URLSearchParams(window.location.search);
  const [search, setSearch] = useState(params.get("q") || "");
  const [query, setQuery] = useState(search);
  const [after, setAfter] = useState(null);
  const result = useQuery("SearchCustomers", { search: query || null, first: 25, after });
  const onSubmit = (ev) => {
    ev.preventDefault();
    setAfter(null);
    setQuery(search.trim());
    window.history.replaceState(null, "", "/console/customers" + (search.trim() ? "?q=" + encodeURIComponent(search.trim()) : ""));
  };
  return html`<section>
    <h1>Customers</h1>
    <form class="form inline" role="search" onSubmit=${onSubmit}>
      <input id="customer-search" type="search" placeholder="id, name or email" value=${search}
        onInput=${(ev) => setSearch(ev.target.value)} />
      <button type="submit">Search</button>
    </form>
    <${Loading} result=${result}>${(data) => html`
      <p class="muted">${data.customers.totalCount} customer${data.customers.totalCount === 1 ? "" : "s"}${query ? ` matching “${query}”` : ""}</p>
      <table class="grid" id="customers"><thead><tr><th>customer</th><th>email</th><th>subscriptions</th><th>since</th></tr></thead>
        <tbody>${edges(data.customers).map((c) => html`<tr>
          <td><${Link} to=${"/customers/" + encodeURIComponent(c.id)}>${c.name || c.id}<//> <small class="muted">${c.id}</small></td>
          <td>${c.email || ""}</td>
          <td>${c.subscriptions.map((s) => `${s.planId} (${s.status.toLowerCase()})`).join(", ")}</td>
          <td>${day(c.createdAt)}</td></tr>`)}</tbody></table>
      ${data.customers.pageInfo.hasNextPage
        ? html`<p><button type="button" class="secondary" onClick=${() => setAfter(data.customers.pageInfo.endCursor)}>Next page</button></p>`
        : null}`}<//>
  </section>`;
}

const SOURCE_LABEL = {
  PLAN: "plan",
  BASE_PLAN: "base plan",
  SUBSCRIPTION_VALUE: "negotiated value",
  ADDON: "add-on",
  PROMOTIONAL: "promotion",
};

function sourceText(s) {
  const origin =
    s.kind === "ADDON" ? `${s.addonId}${s.quantity > 1 ? " ×" + s.quantity : ""}`
    : s.kind === "PROMOTIONAL" ? "promotion"
    : s.planId || s.subscriptionId || "";
  return `${SOURCE_LABEL[s.kind] || s.kind} ${origin}`.trim();
}

/** The sources of one entitlement: a chip each, the deciding one(s) highlighted. */
function Sources({ ent }) {
  return html`<ol class="sources">${ent.sources.map(
    (s) => html`<li class=${"source " + (s.isEffective ? "effective" : "ignored")} data-kind=${s.kind}>
      <strong>${sourceText(s)}</strong>${" "}
      <span>${limitText(s)}${s.isTrial ? " · trial" : ""}</span>
      ${s.isEffective ? html`<em>decides</em>` : null}
    </li>`,
  )}</ol>`;
}

function UsageHistory({ customerId, featureId }) {
  const from = new Date(Date.now() - 180 * 24 * 3600 * 1000).toISOString();
  const result = useQuery("UsageHistory", { customerId, featureId, from });
  return html`<${Loading} result=${result}>${(data) => {
    const periods = data.usageHistory;
    const single = periods.length === 1 && !periods[0].periodStart;
    return html`${single ? html`<p class="muted">no reset period: one running total</p>` : null}
      <${ColumnChart} title=${"usage of " + featureId}
        points=${periods.map((p) => ({ label: (p.periodStart || "total").slice(0, 10), value: p.usage }))} />`;
  }}<//>`;
}

export function CustomerPage({ params }) {
  const [id] = params;
  const result = useQuery("CustomerDetail", { id });
  return html`<section>
    <${Loading} result=${result}>${(data) => {
      const c = data.customer;
      if (!c) return html`<h1>Customer ${id}</h1><p class="error"><code>CUSTOMER_NOT_FOUND</code> no customer ${id} in this environment.</p>`;
      const metered = c.entitlements.filter((e) => e.featureType === "METERED");
      return html`
        <h1>${c.name || c.id} <small class="muted">${c.id}</small></h1>
        <p>${c.email ? c.email + " · " : ""}customer since ${day(c.createdAt)}${c.isArchived ? " · archived" : ""}</p>
        <p class="actions"><a class="button" href=${"/console/provision?customer=" + encodeURIComponent(c.id)}>Provision a subscription</a></p>
        <h2>Subscriptions</h2>
        ${c.subscriptions.map((s) => html`<${SubscriptionCard} s=${s} onDone=${result.reload} />`)}
        <h2>Entitlements <small class="muted">and why</small></h2>
        <table class="grid" id="entitlements"><thead><tr><th>feature</th><th>access</th><th>limit / usage</th><th>decided by</th></tr></thead>
          <tbody>${c.entitlements.map((e) => html`<tr data-feature=${e.featureId}>
            <td>${e.feature ? e.feature.name : e.featureId} <small class="muted">${e.featureId}</small></td>
            <td>${e.hasAccess ? html`<span class="ok">yes</span>` : html`<span class="no">no (${e.denyReason})</span>`}</td>
            <td>${e.featureType === "METERED"
              ? html`<${UsageBar} used=${e.currentUsage} limit=${e.usageLimit} unlimited=${e.isUnlimited} soft=${e.isSoftLimit} />`
              : limitText(e)}</td>
            <td><${Sources} ent=${e} /></td></tr>`)}</tbody></table>
        ${metered.length
          ? html`<h2>Usage history</h2>${metered.map((e) => html`<div class="chart-box"><h3>${e.featureId}</h3>
              <${UsageHistory} customerId=${c.id} featureId=${e.featureId} /></div>`)}`
          : null}
        <h2>Promotions</h2>
        ${c.promotionalEntitlements.length
          ? html`<ul>${c.promotionalEntitlements.map((p) => html`<li>${p.featureId}: ${limitText(p.entitlement)} until ${day(p.endsAt)}</li>`)}</ul>`
          : html`<p class="muted">none</p>`}
        <${PromotionForm} customerId=${c.id} features=${c.entitlements.map((e) => e.featureId)} onDone=${result.reload} />
        <h2>Invoices</h2>
        <table class="grid"><thead><tr><th>invoice</th><th>status</th><th>total</th><th>due</th><th></th></tr></thead>
          <tbody>${c.invoices.map((i) => html`<tr><td>${i.id}</td><td>${i.status}${i.isOverdue ? " (overdue)" : ""}</td>
            <td>${money(i.total, i.currency)}</td><td>${day(i.dueDate)}</td>
            <td>${i.pdfUrl ? html`<a href=${i.pdfUrl}>PDF</a>` : null}</td></tr>`)}</tbody></table>`;
    }}<//>
  </section>`;
}

function SubscriptionCard({ s, onDone }) {
  const form = useForm("cancel-" + s.id, { at: "END_OF_PERIOD" });
  const cancel = async (ev) => {
    ev.preventDefault();
    const ok = await form.submit(async (v) => (await gql("CancelSubscription", { input: { subscriptionId: s.id, at: v.at } })).cancelSubscription.errors);
    if (ok) onDone();
  };
  const live = s.status === "ACTIVE" || s.status === "IN_TRIAL" || s.status === "SCHEDULED";
  return html`<div class="card subscription" data-subscription=${s.id}>
    <strong>${s.plan ? s.plan.name : s.planId}</strong> v${s.planVersion} · ${s.status} · ${s.billingPeriod.toLowerCase()}
    · billing ${s.billingMode === "INVOICE" ? `by invoice, ${s.paymentTermsDays} days` : "external"}
    <br /><small class="muted">${s.id} · since ${day(s.startDate)}${s.currentPeriodEnd ? " · period ends " + day(s.currentPeriodEnd) : ""}
      ${s.canceledAt ? " · canceled " + day(s.canceledAt) : ""}${s.endDate ? " · ends " + day(s.endDate) : ""}</small>
    ${s.addons.length ? html`<p>Add-ons: ${s.addons.map((a) => `${a.addonId} ×${a.quantity}`).join(", ")}</p>` : null}
    ${s.priceOverrides.length ? html`<p>Negotiated prices: ${s.priceOverrides.map((o) => html`<span class="tag overridden">${o.addonId || "base"} ${money(o.amount, o.currency)} (overridden)</span> `)}</p>` : null}
    ${s.scheduledChange ? html`<p>Changes to ${s.scheduledChange.planId} on ${day(s.scheduledChange.effectiveAt)}</p>` : null}
    ${live
      ? html`<form class="form inline" onSubmit=${cancel}>
          <${ErrorText} errors=${form.errors} />
          <a class="button secondary" href=${`/console/provision?customer=${encodeURIComponent(s.customerId)}&replace=${encodeURIComponent(s.id)}`}>Change plan</a>
          <select name="at" value=${form.values.at} onChange=${(ev) => form.set("at", ev.target.value)}>
            <option value="END_OF_PERIOD">at period end</option><option value="IMMEDIATE">now</option>
          </select>
          <button type="submit" class="danger" disabled=${form.busy}>Cancel subscription</button>
        </form>`
      : null}
  </div>`;
}

function PromotionForm({ customerId, features, onDone }) {
  const form = useForm("promotion-" + customerId, { featureId: "", limit: "", unlimited: false, duration: "ONE_MONTH" });
  const onSubmit = async (ev) => {
    ev.preventDefault();
    const ok = await form.submit(async (v) => {
      const grant = { featureId: v.featureId, duration: v.duration };
      if (v.unlimited) grant.unlimited = true;
      else if (v.limit !== "") grant.limit = Number(v.limit);
      const out = await gql("GrantPromotion", { input: { customerId, grants: [grant] } });
      // The API's paths are relative to the input: grants.0.featureId -> featureId.
      return out.grantPromotionalEntitlements.errors.map((e) => ({ ...e, field: e.field && e.field[0] === "grants" ? e.field.slice(2) : e.field }));
    });
    if (ok) onDone();
  };
  return html`<form class="form inline card" id="promotion-form" onSubmit=${onSubmit}>
    <${ErrorText} errors=${otherErrors(form.errors, ["featureId", "limit", "duration"])} />
    <${Field} form=${form} name="featureId" label="Grant a promotion on" hint="any feature id" list="promo-features" />
    <datalist id="promo-features">${features.map((f) => html`<option value=${f} />`)}</datalist>
    <${Field} form=${form} name="limit" label="limit" size="6" />
    <label><input type="checkbox" checked=${form.values.unlimited} onChange=${(ev) => form.set("unlimited", ev.target.checked)} /> unlimited</label>
    <${Field} form=${form} name="duration" label="for">
      <select id="f-duration" value=${form.values.duration} onChange=${(ev) => form.set("duration", ev.target.value)}>
        ${["ONE_WEEK", "ONE_MONTH", "SIX_MONTHS", "ONE_YEAR", "LIFETIME"].map((d) => html`<option value=${d}>${d.toLowerCase().replace("_", " ")}</option>`)}
      </select><//>
    <button type="submit" disabled=${form.busy}>Grant</button>
  </form>`;
}
