// The console's shell: session bootstrap, navigation, environment switcher, page routing.

import { render } from "./vendor/preact.js";
import { useEffect, useState } from "./vendor/hooks.js";
import {
  loadSession,
  state,
  setEnvironment,
  isAdmin,
  SessionExpired,
} from "./api.js";
import { html, Link, currentPath, navigate } from "./ui.js";
import { CatalogPage, PlanPage, NewPlanPage, CatalogCodePage, AddonPage } from "./pages/catalog.js";
import { NewFeaturePage, FeaturePage } from "./pages/features.js";
import { NewProductPage, ProductPage } from "./pages/products.js";
import { CustomersPage, CustomerPage } from "./pages/customers.js";
import { ProvisionPage } from "./pages/provision.js";
import { InvoicesPage } from "./pages/invoices.js";
import { InsightsPage } from "./pages/insights.js";
import { AuditPage } from "./pages/audit.js";
import { WebhooksPage } from "./pages/webhooks.js";
import { ApiKeysPage, UsersPage } from "./pages/admin.js";

const NAV = [
  { to: "/catalog", label: "Catalog" },
  { to: "/customers", label: "Customers" },
  { to: "/provision", label: "Provision a deal" },
  { to: "/invoices", label: "Invoices" },
  { to: "/insights", label: "Insights" },
  { to: "/audit", label: "Audit log" },
  { to: "/webhooks", label: "Webhooks" },
  { to: "/api-keys", label: "API keys", admin: true },
  { to: "/users", label: "Users", admin: true },
];

// [pattern, component, adminOnly]
const ROUTES = [
  [/^\/?$/, InsightsPage],
  [/^\/catalog$/, CatalogPage],
  [/^\/catalog\/code$/, CatalogCodePage],
  [/^\/catalog\/plans\/new$/, NewPlanPage],
  [/^\/catalog\/plans\/([^/]+)$/, PlanPage],
  [/^\/catalog\/addons\/([^/]+)$/, AddonPage],
  [/^\/catalog\/features\/new$/, NewFeaturePage],
  [/^\/catalog\/features\/([^/]+)$/, FeaturePage],
  [/^\/catalog\/products\/new$/, NewProductPage],
  [/^\/catalog\/products\/([^/]+)$/, ProductPage],
  [/^\/customers$/, CustomersPage],
  [/^\/customers\/([^/]+)$/, CustomerPage],
  [/^\/provision$/, ProvisionPage],
  [/^\/invoices$/, InvoicesPage],
  [/^\/insights$/, InsightsPage],
  [/^\/audit$/, AuditPage],
  [/^\/webhooks$/, WebhooksPage],
  [/^\/api-keys$/, ApiKeysPage, true],
  [/^\/users$/, UsersPage, true],
];

function route(path) {
  for (const [pattern, component, adminOnly] of ROUTES) {
    const m = path.match(pattern);
    if (m) return { component, params: m.slice(1).map(decodeURIComponent), adminOnly };
  }
  return null;
}

function EnvironmentSwitcher({ onChange }) {
  const envs = state.session.environments || [];
  return html`<label class="env-switch">Environment
    <select id="environment" value=${state.environmentId}
        onChange=${(ev) => onChange(ev.target.value)}>
      ${envs.map((e) => html`<option value=${e.id}>${e.name || e.slug}</option>`)}
    </select>
  </label>`;
}

function Shell() {
  const [path, setPath] = useState(currentPath());
  const [env, setEnv] = useState(state.environmentId);
  useEffect(() => {
    const onNav = () => setPath(currentPath());
    window.addEventListener("popstate", onNav);
    window.addEventListener("allot:navigate", onNav);
    return () => {
      window.removeEventListener("popstate", onNav);
      window.removeEventListener("allot:navigate", onNav);
    };
  }, []);
  const switchEnv = (id) => {
    setEnvironment(id);
    setEnv(id);
  };
  const found = route(path.split("?")[0]);
  const admin = isAdmin();
  let page;
  if (!found) {
    page = html`<section><h1>Not found</h1><p>No console page at ${path}.</p></section>`;
  } else if (found.adminOnly && !admin) {
    page = html`<section><h1>Admins only</h1>
      <p class="error" role="alert"><code>FORBIDDEN</code> this page is for admins.</p></section>`;
  } else {
    const Page = found.component;
    // key: a new environment or path remounts the page, so nothing of the old one shows.
    page = html`<${Page} key=${env + path} params=${found.params} />`;
  }
  const user = state.session.user;
  return html`<div class="layout">
    <header class="top">
      <strong class="brand"><${Link} to="/">allot console<//></strong>
      <span class="account">${state.session.account && state.session.account.name}</span>
      <${EnvironmentSwitcher} onChange=${switchEnv} />
      <span class="user" id="current-user">${user.name || user.email} · ${user.role}</span>
      <button type="button" id="logout" class="secondary" onClick=${logout}>Log out</button>
    </header>
    <nav class="side" aria-label="Console pages">
      ${NAV.filter((n) => !n.admin || admin).map(
        (n) => html`<${Link} to=${n.to}
            class=${path === n.to || path.startsWith(n.to + "/") ? "active" : ""}>${n.label}<//>`,
      )}
    </nav>
    <main id="page">${page}</main>
  </div>`;
}

async function logout() {
  try {
    await fetch("/console/logout", {
      method: "POST",
      credentials: "same-origin",
      headers: { "X-CSRF-Token": state.session.csrfToken },
    });
  } finally {
    window.location.assign("/console/login");
  }
}

async function start() {
  const root = document.getElementById("app");
  try {
    await loadSession();
  } catch (e) {
    if (e instanceof SessionExpired) return; // on the way to the login page
    root.textContent = "The console cannot start: " + e.message;
    return;
  }
  root.textContent = "";
  render(html`<${Shell} />`, root);
}

export { navigate };
start();
