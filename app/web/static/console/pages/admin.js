// Admins only (the server refuses members too: FORBIDDEN): API keys and users.

import { useState } from "../vendor/hooks.js";
import { gql } from "../api.js";
import { html, useQuery, Loading, useForm, Field, ErrorText, otherErrors, day } from "../ui.js";

export function ApiKeysPage() {
  const result = useQuery("ApiKeys");
  const form = useForm("new-key", { name: "", kind: "SERVER" });
  const [secret, setSecret] = useState(null);
  const create = async (ev) => {
    ev.preventDefault();
    let out = null;
    const ok = await form.submit(async (v) => {
      out = (await gql("CreateApiKey", { input: { name: v.name, kind: v.kind } })).createApiKey;
      return out.errors;
    });
    if (ok) {
      setSecret(out.secret);
      form.setValues({ name: "", kind: "SERVER" });
      result.reload();
    }
  };
  const revoke = (id) => async () => {
    const out = await gql("RevokeApiKey", { input: { id } });
    if (!out.revokeApiKey.errors.length) result.reload();
    else form.setErrors(out.revokeApiKey.errors);
  };
  return html`<section>
    <h1>API keys</h1>
    <${Loading} result=${result}>${(data) => html`<table class="grid" id="api-keys"><thead><tr><th>name</th><th>kind</th><th>prefix</th><th>created</th><th></th></tr></thead>
      <tbody>${data.apiKeys.map((k) => html`<tr><td>${k.name}</td><td>${k.kind}</td><td><code>${k.prefix}</code></td><td>${day(k.createdAt)}</td>
        <td>${k.revokedAt ? "revoked " + day(k.revokedAt) : html`<button type="button" class="danger" onClick=${revoke(k.id)}>Revoke</button>`}</td></tr>`)}</tbody></table>`}<//>
    <form class="form card" onSubmit=${create}>
      <h2>New key</h2>
      <${ErrorText} errors=${otherErrors(form.errors, ["name", "kind"])} />
      <${Field} form=${form} name="name" label="Name" />
      <${Field} form=${form} name="kind" label="Kind">
        <select id="f-kind" value=${form.values.kind} onChange=${(ev) => form.set("kind", ev.target.value)}>
          <option value="SERVER">server</option><option value="CLIENT">client</option></select><//>
      <button type="submit" disabled=${form.busy}>Create</button>
      ${secret ? html`<p class="notice">The key (shown once): <code id="new-key-secret">${secret}</code></p>` : null}
    </form>
  </section>`;
}

export function UsersPage() {
  const result = useQuery("Users");
  const form = useForm("invite", { email: "", name: "", role: "MEMBER" });
  const [invited, setInvited] = useState(null);
  const invite = async (ev) => {
    ev.preventDefault();
    let out = null;
    const ok = await form.submit(async (v) => {
      out = (await gql("InviteUser", { input: { email: v.email, name: v.name, role: v.role } })).inviteUser;
      return out.errors;
    });
    if (ok) {
      setInvited(out);
      form.setValues({ email: "", name: "", role: "MEMBER" });
      result.reload();
    }
  };
  const act = (name, field, vars) => async () => {
    const out = await gql(name, vars);
    if (out[field].errors.length) form.setErrors(out[field].errors);
    else result.reload();
  };
  return html`<section>
    <h1>Users</h1>
    <${Loading} result=${result}>${(data) => html`<table class="grid" id="users"><thead><tr><th>name</th><th>email</th><th>role</th><th>status</th><th></th></tr></thead>
      <tbody>${data.users.map((u) => html`<tr data-user=${u.id}><td>${u.name}</td><td>${u.email}</td><td>${u.role.toLowerCase()}</td>
        <td>${u.disabledAt ? "disabled " + day(u.disabledAt) : u.lastLoginAt ? "last login " + day(u.lastLoginAt) : "never logged in"}</td>
        <td>${u.disabledAt ? null : html`<button type="button" class="secondary" onClick=${act("ChangeUserRole", "changeUserRole", { input: { id: u.id, role: u.role === "ADMIN" ? "MEMBER" : "ADMIN" } })}>
          make ${u.role === "ADMIN" ? "member" : "admin"}</button>
          <button type="button" class="danger" onClick=${act("DisableUser", "disableUser", { input: { id: u.id } })}>Disable</button>`}</td></tr>`)}</tbody></table>`}<//>
    <form class="form card" onSubmit=${invite} id="invite-form">
      <h2>Invite a user</h2>
      <${ErrorText} errors=${otherErrors(form.errors, ["email", "name", "role"])} />
      <${Field} form=${form} name="email" label="Email" type="email" />
      <${Field} form=${form} name="name" label="Name" />
      <${Field} form=${form} name="role" label="Role">
        <select id="f-role" value=${form.values.role} onChange=${(ev) => form.set("role", ev.target.value)}>
          <option value="MEMBER">member</option><option value="ADMIN">admin</option></select><//>
      <button type="submit" disabled=${form.busy}>Invite</button>
      ${invited ? html`<p class="notice">Invitation created: send them this link (shown once) <code id="invite-link">${invited.link}</code></p>` : null}
    </form>
  </section>`;
}
