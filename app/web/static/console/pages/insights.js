// Insights: customers per plan and status, trials ending soon, limit utilization, usage
// distribution, revenue by plan. Every number comes from Query.insights.

import { useState } from "../vendor/hooks.js";
import { html, Link, useQuery, Loading, BarChart, ColumnChart, money, day, edges } from "../ui.js";

export function InsightsPage() {
  const result = useQuery("Insights", { withinDays: 14 });
  return html`<section>
    <h1>Insights</h1>
    <${Loading} result=${result}>${(data) => {
      const i = data.insights;
      const total = i.customersPerStatus.reduce((n, s) => n + s.customers, 0);
      return html`
        <div class="cards">
          ${i.customersPerStatus.map((s) => html`<div class="card stat" data-status=${s.status}>
            <span class="number">${s.customers}</span><span>${s.status.toLowerCase().replace("_", " ")}</span></div>`)}
        </div>
        <p class="muted">${total} subscribed customers by subscription status · the numbers are
          recomputed in the background and may be up to a minute old (ALLOT_INSIGHTS_MAX_AGE)</p>
        <div class="chart-box" id="customers-per-plan"><h2>Customers per plan</h2>
          <${BarChart} title="customers per plan" items=${i.customersPerPlan.map((p) => ({ label: p.plan ? p.plan.name : "?", value: p.customers }))} />
          <table class="grid compact"><tbody>${i.customersPerPlan.map((p) => html`<tr data-plan=${p.plan && p.plan.id}>
            <td>${p.plan ? p.plan.name : "?"}</td><td class="num">${p.customers}</td></tr>`)}</tbody></table></div>
        <div class="chart-box"><h2>Revenue by plan <small class="muted">from invoices</small></h2>
          <${BarChart} title="revenue by plan" items=${i.revenueByPlan.map((r) => ({ label: `${r.plan ? r.plan.name : "?"} (${r.currency})`, value: Number(r.amount) }))} />
          <table class="grid compact"><tbody>${i.revenueByPlan.map((r) => html`<tr><td>${r.plan ? r.plan.name : "?"}</td>
            <td class="num">${money(r.amount, r.currency)}</td><td class="num">${r.invoices} invoices</td></tr>`)}</tbody></table></div>
        <${Limits} />
        <div class="chart-box"><h2>Trials ending in 14 days</h2>
          ${i.trialsEndingSoon.length
            ? html`<ul>${i.trialsEndingSoon.map((t) => html`<li><${Link} to=${"/customers/" + encodeURIComponent(t.customerId)}>${t.customerId}<//> · ${t.planId} · ends ${day(t.trialEndDate)}</li>`)}</ul>`
            : html`<p class="muted">none</p>`}</div>
        <${Distribution} features=${edges(data.features).filter((f) => f.type === "METERED")} />`;
    }}<//>
  </section>`;
}

function Limits() {
  const result = useQuery("LimitUtilization");
  return html`<div class="chart-box" id="limit-utilization"><h2>Limits: customers at ≥ 80 % / 100 %</h2>
    <${Loading} result=${result}>${(data) => html`<table class="grid"><thead><tr><th>feature</th><th>with a limit</th><th>≥ 80 %</th><th>≥ 100 %</th></tr></thead>
      <tbody>${data.insights.limitUtilization.map((l) => html`<tr><td>${l.feature ? l.feature.name : "?"}</td><td class="num">${l.customersWithLimit}</td>
        <td class="num">${l.atLeast80Percent}</td><td class="num">${l.atLeast100Percent}</td></tr>`)}</tbody></table>`}<//>
  </div>`;
}

function Distribution({ features }) {
  const [featureId, setFeatureId] = useState(features[0] ? features[0].id : "");
  if (!featureId) return null;
  return html`<div class="chart-box"><h2>Usage distribution
      <select value=${featureId} onChange=${(ev) => setFeatureId(ev.target.value)}>
        ${features.map((f) => html`<option value=${f.id}>${f.name}</option>`)}</select></h2>
    <${DistributionChart} featureId=${featureId} /></div>`;
}

function DistributionChart({ featureId }) {
  const result = useQuery("UsageDistribution", { featureId, buckets: 10 });
  return html`<${Loading} result=${result}>${(data) => html`<${ColumnChart} title=${"usage distribution of " + featureId}
      points=${data.insights.usageDistribution.map((b) => ({ label: `${b.from}–${b.to}`, value: b.customers }))} />`}<//>`;
}
