// How the console talks to allot: GET /console/session once, then POST /graphql with the
// session cookie (sent by the browser: credentials "same-origin"), the CSRF token from the
// session as X-CSRF-Token, and the chosen environment as X-Allot-Environment.

import { documentOf } from "./operations.js";

const ENV_KEY = "allot.console.environment";
const DRAFTS_KEY = "allot.console.drafts";

export const state = { session: null, environmentId: null };

/** The session went away (expired, logged out elsewhere): the caller stops, we go to login. */
export class SessionExpired extends Error {}

/** A transport or GraphQL-level failure (not a typed UserError: those come back as data). */
export class ApiError extends Error {
  constructor(message, status, code = null) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

export function loginUrl() {
  const here = window.location.pathname + window.location.search + window.location.hash;
  return "/console/login?next=" + encodeURIComponent(here);
}

export function goToLogin() {
  window.location.assign(loginUrl());
}

export async function loadSession() {
  const response = await fetch("/console/session", {
    credentials: "same-origin",
    headers: { Accept: "application/json" },
  });
  if (response.status === 401) {
    goToLogin();
    throw new SessionExpired("not logged in");
  }
  if (!response.ok) throw new ApiError(`session: HTTP ${response.status}`, response.status);
  const session = await response.json();
  state.session = session;
  const environments = session.environments || [];
  let chosen = null;
  try {
    chosen = window.localStorage.getItem(ENV_KEY);
  } catch (e) {
    /* storage disabled */
  }
  if (!environments.some((e) => e.id === chosen)) {
    const dev = environments.find((e) => e.slug === "development");
    chosen = (dev || environments[0] || {}).id || null;
  }
  state.environmentId = chosen;
  return session;
}

export function setEnvironment(id) {
  state.environmentId = id;
  try {
    window.localStorage.setItem(ENV_KEY, id);
  } catch (e) {
    /* storage disabled */
  }
}

export function currentEnvironment() {
  const envs = (state.session && state.session.environments) || [];
  return envs.find((e) => e.id === state.environmentId) || null;
}

export function isAdmin() {
  return !!(state.session && state.session.user && state.session.user.role === "admin");
}

/** Run operation `name` (see operations.js) and return its `data`. */
export async function gql(name, variables = {}) {
  let response = await post(name, variables);
  if (response.status === 403) {
    // The CSRF token is refused: the session was replaced (a login in another tab). Ask for
    // the current one and try once more; a second 403 is reported.
    const fresh = await fetch("/console/session", { credentials: "same-origin" });
    if (fresh.ok) {
      state.session = await fresh.json();
      response = await post(name, variables);
    }
  }
  return read(response);
}

async function post(name, variables) {
  const headers = {
    "Content-Type": "application/json",
    Accept: "application/json",
    "X-CSRF-Token": (state.session && state.session.csrfToken) || "",
  };
  if (state.environmentId) headers["X-Allot-Environment"] = state.environmentId;
  try {
    return await fetch("/graphql", {
      method: "POST",
      credentials: "same-origin",
      headers,
      body: JSON.stringify({ query: documentOf(name), variables, operationName: name }),
    });
  } catch (e) {
    throw new ApiError(`cannot reach allot: ${e.message}`, 0);
  }
}

async function read(response) {
  if (response.status === 401) {
    saveDrafts();
    goToLogin();
    throw new SessionExpired("session expired");
  }
  let body = null;
  try {
    body = await response.json();
  } catch (e) {
    throw new ApiError(`HTTP ${response.status}`, response.status);
  }
  if (body.errors && body.errors.length) {
    const first = body.errors[0];
    const code = first.extensions && first.extensions.code;
    if (code === "UNAUTHENTICATED") {
      saveDrafts();
      goToLogin();
      throw new SessionExpired("session expired");
    }
    throw new ApiError(first.message, response.status, code || null);
  }
  if (!response.ok) throw new ApiError(`HTTP ${response.status}`, response.status);
  return body.data;
}

// ------------------------------------------------------------------ half-filled forms
// Forms register a getter for their values; when the session turns out to be gone on submit,
// every registered form is written to sessionStorage before going to login, and read back
// (once) when the same page opens again.

const liveForms = new Map();

export function registerForm(id, getValues) {
  liveForms.set(id, getValues);
  return () => liveForms.delete(id);
}

export function saveDrafts() {
  const drafts = readAllDrafts();
  for (const [id, getValues] of liveForms) {
    drafts[id] = { path: window.location.pathname, values: getValues() };
  }
  try {
    window.sessionStorage.setItem(DRAFTS_KEY, JSON.stringify(drafts));
  } catch (e) {
    /* storage disabled: nothing to keep */
  }
}

function readAllDrafts() {
  try {
    return JSON.parse(window.sessionStorage.getItem(DRAFTS_KEY) || "{}") || {};
  } catch (e) {
    return {};
  }
}

/** The kept values of form `id` (and forget them), or null. */
export function takeDraft(id) {
  const drafts = readAllDrafts();
  const draft = drafts[id];
  if (!draft) return null;
  delete drafts[id];
  try {
    window.sessionStorage.setItem(DRAFTS_KEY, JSON.stringify(drafts));
  } catch (e) {
    /* ignore */
  }
  return draft.values;
}
