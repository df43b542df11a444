// Invoices: list with status filters, mark paid, void, PDF and payment links.

import { useState } from "../vendor/hooks.js";
import { gql } from "../api.js";
import { html, Link, useQuery, Loading, useForm, ErrorText, edges, money, day } from "../ui.js";

export function InvoicesPage() {
  const params = new URLSearchParams(window.location.search);
  const [status, setStatus] = useState(params.get("status") || "");
  const [customerId, setCustomerId] = useState(params.get("customer") || "");
  const [after, setAfter] = useState(null);
  const result = useQuery("Invoices", { status: status || null, customerId: customerId || null, first: 50, after });
  return html`<section>
    <h1>Invoices</h1>
    <div class="filters" role="group" aria-label="Status">
      ${["", "OPEN", "PAID", "VOID"].map((s) => html`<button type="button"
          class=${"chip" + (status === s ? " active" : "")} data-status=${s || "ALL"}
          onClick=${() => { setAfter(null); setStatus(s); }}>${s ? s.toLowerCase() : "all"}</button>`)}
      <input type="search" placeholder="customer id" value=${customerId}
        onChange=${(ev) => { setAfter(null); setCustomerId(ev.target.value.trim()); }} />
    </div>
    <${Loading} result=${result}>${(data) => html`
      <p class="muted">${data.invoices.totalCount} invoices</p>
      <table class="grid" id="invoices"><thead><tr><th>invoice</th><th>customer</th><th>status</th><th>total</th><th>issued</th><th>due</th><th>links</th><th></th></tr></thead>
        <tbody>${edges(data.invoices).map((i) => html`<${InvoiceRow} key=${i.id} invoice=${i} onDone=${result.reload} />`)}</tbody></table>
      ${data.invoices.pageInfo.hasNextPage
        ? html`<p><button type="button" class="secondary" onClick=${() => setAfter(data.invoices.pageInfo.endCursor)}>Next page</button></p>`
        : null}`}<//>
  </section>`;
}

function InvoiceRow({ invoice: i, onDone }) {
  const form = useForm("invoice-" + i.id, {});
  const act = (name, field) => async () => {
    const ok = await form.submit(async () => (await gql(name, { input: { invoiceId: i.id } }))[field].errors);
    if (ok) onDone();
  };
  return html`<tr data-invoice=${i.id}>
    <td>${i.id}</td>
    <td><${Link} to=${"/customers/" + encodeURIComponent(i.billTo.customerId)}>${i.billTo.name || i.billTo.customerId}<//></td>
    <td class=${"status-" + i.status.toLowerCase()}>${i.status}${i.isOverdue ? html` <span class="tag danger">overdue</span>` : null}</td>
    <td>${money(i.total, i.currency)}</td><td>${day(i.issuedAt)}</td>
    <td>${day(i.dueDate)} <small class="muted">(${i.paymentTermsDays} days)</small></td>
    <td>${i.pdfUrl ? html`<a href=${i.pdfUrl} target="_blank" rel="noopener">PDF</a>` : null}
      ${i.paymentUrl && i.status === "OPEN" ? html` · <a href=${i.paymentUrl} target="_blank" rel="noopener">payment link</a>` : null}</td>
    <td>${i.status === "OPEN"
      ? html`<button type="button" class="mark-paid" disabled=${form.busy} onClick=${act("MarkInvoicePaid", "markInvoicePaid")}>Mark paid</button>
          <button type="button" class="danger" disabled=${form.busy} onClick=${act("VoidInvoice", "voidInvoice")}>Void</button>`
      : i.paidAt ? "paid " + day(i.paidAt) : i.voidedAt ? "voided " + day(i.voidedAt) : ""}
      <${ErrorText} errors=${form.errors} /></td>
  </tr>`;
}
