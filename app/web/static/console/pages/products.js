// Products: create one, edit it (name, description, one or several subscriptions per customer,
// its default plan — one of its own live plans — and whether customers fall back to it), archive
// it (with its plans and add-ons). API errors sit next to their fields, with their codes.

import { useState } from "../vendor/hooks.js";
import { gql } from "../api.js";
import { html, Link, navigate, useQuery, Loading, useForm, Field, ErrorText, otherErrors, edges, when } from "../ui.js";
import { Choice, Check, ArchiveBox } from "./features.js";

const HANDLED = ["id", "name", "description", "multipleSubscriptions", "defaultPlan", "downgradeToDefaultPlan"];

function ProductFields({ form, isNew, plans }) {
  return html`
    <${ErrorText} errors=${otherErrors(form.errors, isNew ? HANDLED : HANDLED.filter((p) => p !== "id"))} />
    ${isNew
      ? html`<${Field} form=${form} name="id" label="Product id" required
          hint="letters, digits, '_', '-', '.', ':'" />`
      : null}
    <${Field} form=${form} name="name" label="Name" hint="empty: the id" />
    <${Field} form=${form} name="description" label="Description" />
    <${Check} form=${form} name="multipleSubscriptions" label="A customer may hold several subscriptions (one per resource id)" />
    ${isNew
      ? null
      : html`<${Choice} form=${form} name="defaultPlan" label="Default plan"
          hint="given to customers provisioned without a subscription"
          options=${[{ value: "", label: "none" }, ...plans.map((p) => ({ value: p.id, label: `${p.name} (${p.id})` }))]} />`}
    <${Check} form=${form} name="downgradeToDefaultPlan" label="Customers fall back to the default plan when a subscription ends" />`;
}

function productInput(v, isNew, currentDefault = null) {
  const input = {
    id: v.id,
    name: v.name.trim() ? v.name : null,
    description: v.description,
    multipleSubscriptions: !!v.multipleSubscriptions,
    downgradeToDefaultPlan: !!v.downgradeToDefaultPlan,
  };
  // A new product has no plans yet: its default plan is chosen once it has one. Sent only when
  // changed, so a default plan archived since does not block other edits.
  if (!isNew && (v.defaultPlan || null) !== (currentDefault || null)) input.defaultPlan = v.defaultPlan || null;
  return input;
}

export function NewProductPage() {
  const form = useForm("new-product", {
    id: "", name: "", description: "", multipleSubscriptions: false, downgradeToDefaultPlan: true,
  });
  const onSubmit = async (ev) => {
    ev.preventDefault();
    let created = null;
    const ok = await form.submit(async (v) => {
      const out = await gql("CreateProduct", { input: productInput(v, true) });
      created = out.createProduct.product;
      return out.createProduct.errors;
    });
    if (ok && created) navigate("/catalog/products/" + encodeURIComponent(created.id));
  };
  return html`<section>
    <h1>New product</h1>
    <p><${Link} to="/catalog">← Catalog<//></p>
    <form class="form" id="product-form" onSubmit=${onSubmit}>
      <${ProductFields} form=${form} isNew=${true} plans=${[]} />
      <p><button type="submit" id="save-product" disabled=${form.busy}>Create product</button></p>
    </form>
  </section>`;
}

export function ProductPage({ params }) {
  const [id] = params;
  const detail = useQuery("ProductDetail", { id });
  return html`<section>
    <p><${Link} to="/catalog">← Catalog<//></p>
    <${Loading} result=${detail}>${(d) => {
      const p = d.product;
      if (!p) return html`<h1>Product ${id}</h1><p class="error"><code>PRODUCT_NOT_FOUND</code> no product ${id} in this environment.</p>`;
      const plans = edges(d.plans).filter((x) => !x.isArchived);
      const addons = d.addons.totalCount;
      return html`
        <h1>${p.name} <small class="muted">${p.id}</small>
          ${p.isArchived ? html` <span class="tag danger" id="archived">archived</span>` : null}</h1>
        <p id="product-summary">${p.multipleSubscriptions ? "several subscriptions per customer" : "one subscription per customer"} ·
          default plan ${p.defaultPlanId || "none"} · ${addons} add-on${addons === 1 ? "" : "s"}
          <br /><small class="muted">created ${when(p.createdAt)}</small></p>
        <h2>Plans</h2>
        ${plans.length
          ? html`<ul id="product-plans">${plans.map((x) => html`<li><${Link} to=${"/catalog/plans/" + x.id}>${x.name}<//>
              <small class="muted">${x.id} · ${x.version === null ? "unpublished" : "v" + x.version}</small></li>`)}</ul>`
          : html`<p class="muted">No plans yet.</p>`}
        <p><${Link} to="/catalog/plans/new" class="button secondary">New plan<//></p>
        <h2>Edit</h2>
        <${EditProductForm} key=${p.id} product=${p} plans=${plans} onDone=${detail.reload} />
        ${p.isArchived
          ? html`<p class="muted">Archived, with its plans and add-ons: it takes no new subscriptions.</p>`
          : html`<${ArchiveBox} what="product" id=${p.id} op="ArchiveProduct" field="archiveProduct"
              warning=${`Its ${plans.length} plan${plans.length === 1 ? "" : "s"} and ${addons} add-on${addons === 1 ? "" : "s"} are archived with it: it takes no new subscriptions.`}
              onDone=${detail.reload} />`}`;
    }}<//>
  </section>`;
}

function EditProductForm({ product, plans, onDone }) {
  const form = useForm("edit-product-" + product.id, {
    id: product.id,
    name: product.name,
    description: product.description,
    multipleSubscriptions: product.multipleSubscriptions,
    defaultPlan: product.defaultPlanId || "",
    downgradeToDefaultPlan: product.downgradeToDefaultPlan,
  });
  const [saved, setSaved] = useState(false);
  const onSubmit = async (ev) => {
    ev.preventDefault();
    setSaved(false);
    const ok = await form.submit(async (v) => {
      const out = await gql("UpdateProduct", { input: productInput(v, false, product.defaultPlanId) });
      return out.updateProduct.errors;
    });
    if (ok) {
      setSaved(true);
      onDone();
    }
  };
  // A default plan archived since is shown as it is (kept unless another is chosen).
  const current = product.defaultPlanId;
  const choices = current && !plans.some((p) => p.id === current)
    ? [...plans, { id: current, name: "archived or gone" }]
    : plans;
  return html`<form class="form" id="product-form" onSubmit=${onSubmit}>
    <${ProductFields} form=${form} isNew=${false} plans=${choices} />
    <p><button type="submit" id="save-product" disabled=${form.busy}>Save</button>
      ${saved ? html` <span class="notice" id="saved">Saved.</span>` : null}</p>
  </form>`;
}
