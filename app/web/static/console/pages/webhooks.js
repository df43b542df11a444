// Webhooks: endpoints (create, enable/disable), deliveries with their attempts, replay.

import { useState } from "../vendor/hooks.js";
import { gql } from "../api.js";
import { html, useQuery, Loading, useForm, Field, ErrorText, otherErrors, edges, when } from "../ui.js";

export function WebhooksPage() {
  const [status, setStatus] = useState("");
  const result = useQuery("Webhooks", { status: status || null });
  return html`<section>
    <h1>Webhooks</h1>
    <${Loading} result=${result}>${(data) => html`
      <h2>Endpoints</h2>
      <table class="grid"><thead><tr><th>url</th><th>events</th><th>enabled</th><th></th></tr></thead>
        <tbody>${edges(data.webhookEndpoints).map((e) => html`<${EndpointRow} key=${e.id} e=${e} onDone=${result.reload} />`)}</tbody></table>
      <${NewEndpoint} types=${data.webhookEventTypes} onDone=${result.reload} />
      <h2>Deliveries <small class="muted">${data.webhookDeliveries.totalCount}</small>
        <button type="button" class="link" id="refresh-deliveries" onClick=${result.reload}>refresh</button></h2>
      <div class="filters">${["", "PENDING", "SUCCEEDED", "FAILED"].map((s) => html`<button type="button"
        class=${"chip" + (status === s ? " active" : "")} onClick=${() => setStatus(s)}>${s ? s.toLowerCase() : "all"}</button>`)}</div>
      <table class="grid" id="deliveries"><thead><tr><th>created</th><th>event</th><th>status</th><th>attempts</th><th>last</th><th></th></tr></thead>
        <tbody>${edges(data.webhookDeliveries).map((d) => html`<${DeliveryRow} key=${d.id} d=${d} onDone=${result.reload} />`)}</tbody></table>`}<//>
  </section>`;
}

function EndpointRow({ e, onDone }) {
  const form = useForm("endpoint-" + e.id, {});
  const toggle = async () => {
    const ok = await form.submit(async () => (await gql("UpdateWebhookEndpoint", { input: { endpointId: e.id, enabled: !e.enabled } })).updateWebhookEndpoint.errors);
    if (ok) onDone();
  };
  return html`<tr><td>${e.url}<br /><small class="muted">${e.description || ""}</small></td>
    <td>${e.eventTypes.length ? e.eventTypes.join(", ") : "all"}</td><td>${e.enabled ? "yes" : "no"}</td>
    <td><button type="button" class="secondary" onClick=${toggle} disabled=${form.busy}>${e.enabled ? "Disable" : "Enable"}</button>
      <${ErrorText} errors=${form.errors} /></td></tr>`;
}

function NewEndpoint({ types, onDone }) {
  const form = useForm("new-endpoint", { url: "", description: "", eventTypes: [] });
  const [secret, setSecret] = useState(null);
  const onSubmit = async (ev) => {
    ev.preventDefault();
    let out = null;
    const ok = await form.submit(async (v) => {
      out = (await gql("CreateWebhookEndpoint", { input: { url: v.url, description: v.description || null, eventTypes: v.eventTypes.length ? v.eventTypes : null } })).createWebhookEndpoint;
      return out.errors;
    });
    if (ok) {
      setSecret(out.secret);
      form.setValues({ url: "", description: "", eventTypes: [] });
      onDone();
    }
  };
  const toggle = (name) => form.set("eventTypes", form.values.eventTypes.includes(name) ? form.values.eventTypes.filter((t) => t !== name) : [...form.values.eventTypes, name]);
  return html`<form class="form card" onSubmit=${onSubmit}>
    <h3>New endpoint</h3>
    <${ErrorText} errors=${otherErrors(form.errors, ["url", "description", "eventTypes"])} />
    <${Field} form=${form} name="url" label="URL" type="url" size="50" />
    <${Field} form=${form} name="description" label="Description" />
    <fieldset><legend>Events (none: all)</legend>${types.map((t) => html`<label class="check" title=${t.description}>
      <input type="checkbox" checked=${form.values.eventTypes.includes(t.name)} onChange=${() => toggle(t.name)} /> ${t.name}</label>`)}</fieldset>
    <button type="submit" disabled=${form.busy}>Create</button>
    ${secret ? html`<p class="notice">Signing secret (shown once): <code>${secret}</code></p>` : null}
  </form>`;
}

function DeliveryRow({ d, onDone }) {
  const form = useForm("delivery-" + d.id, {});
  const replay = async () => {
    const ok = await form.submit(async () => (await gql("ReplayWebhookDelivery", { input: { deliveryId: d.id } })).replayWebhookDelivery.errors);
    if (ok) onDone();
  };
  const last = d.attempts[d.attempts.length - 1];
  return html`<tr data-delivery=${d.id}><td>${when(d.createdAt)}</td><td>${d.eventType}</td><td class="status">${d.status}</td>
    <td>${d.attemptCount}${d.replayCount ? ` (${d.replayCount} replays)` : ""}</td>
    <td>${last ? `${last.statusCode || last.error || ""} in ${last.durationMs} ms` : ""}</td>
    <td><button type="button" class="secondary" onClick=${replay} disabled=${form.busy}>Replay</button><${ErrorText} errors=${form.errors} /></td></tr>`;
}
