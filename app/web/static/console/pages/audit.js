// The audit log: filters, who did it (user or key), before/after diff.

import { useState } from "../vendor/hooks.js";
import { html, useQuery, Loading, edges, when, JsonDiff } from "../ui.js";

export function AuditPage() {
  const params = new URLSearchParams(window.location.search);
  const [filters, setFilters] = useState({
    entityType: params.get("entityType") || "",
    entityId: params.get("entityId") || "",
    operation: params.get("operation") || "",
    action: "",
  });
  const [applied, setApplied] = useState(filters);
  const [after, setAfter] = useState(null);
  const [open, setOpen] = useState(null);
  const vars = { first: 50, after };
  for (const [k, val] of Object.entries(applied)) if (val) vars[k] = val;
  const result = useQuery("AuditLog", vars);
  const field = (name, label) => html`<label>${label}
    <input name=${name} value=${filters[name]} size="12" onInput=${(ev) => setFilters({ ...filters, [name]: ev.target.value.trim() })} /></label>`;
  return html`<section>
    <h1>Audit log</h1>
    <form class="form inline filters" onSubmit=${(ev) => { ev.preventDefault(); setAfter(null); setApplied(filters); }}>
      ${field("entityType", "entity type")} ${field("entityId", "entity id")} ${field("operation", "operation")}
      <label>action <select value=${filters.action} onChange=${(ev) => setFilters({ ...filters, action: ev.target.value })}>
        ${["", "CREATE", "UPDATE", "DELETE"].map((a) => html`<option value=${a}>${a || "any"}</option>`)}</select></label>
      <button type="submit">Filter</button>
    </form>
    <${Loading} result=${result}>${(data) => html`
      <p class="muted">${data.auditLog.totalCount} entries</p>
      <table class="grid" id="audit"><thead><tr><th>when</th><th>who</th><th>operation</th><th>entity</th><th>action</th><th></th></tr></thead>
        <tbody>${edges(data.auditLog).map((e) => html`<tr data-entry=${e.id}>
          <td>${when(e.occurredAt)}</td>
          <td class="actor">${e.actorUser ? html`<strong>${e.actorUser.name || e.actorUser.email}</strong> <small class="muted">${e.actorUser.email}</small>` : e.actorKind ? (e.actorKeyId ? `${e.actorKind} key ${e.actorKeyId}` : e.actorKind) : "system"}</td>
          <td>${e.operation}</td><td>${e.entityType} <small class="muted">${e.entityId}</small></td><td>${e.action}</td>
          <td><button type="button" class="link" onClick=${() => setOpen(open === e.id ? null : e.id)}>${open === e.id ? "hide" : "diff"}</button></td>
        </tr>${open === e.id ? html`<tr class="detail"><td colspan="6"><${JsonDiff} before=${e.before} after=${e.after} /></td></tr>` : null}`)}</tbody></table>
      ${data.auditLog.pageInfo.hasNextPage
        ? html`<p><button type="button" class="secondary" onClick=${() => setAfter(data.auditLog.pageInfo.endCursor)}>Older</button></p>`
        : null}`}<//>
  </section>`;
}
