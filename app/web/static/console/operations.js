// Every GraphQL document the console sends, in one place.
//
// The console is a client of allot's own /graphql: nothing here is private API.
// tests/web/console/test_console_operations.py parses this file (the `op` and `fragment`
// template literals below, no interpolation inside them) and validates each operation,
// with the fragments it spreads, against the server's schema: a renamed field fails there.

const FRAGMENTS = {};
const OPERATIONS = {};

function fragment(name, text) {
  FRAGMENTS[name] = text;
}

function op(name, text) {
  OPERATIONS[name] = text;
}

/** The operation `name` with every fragment it (transitively) spreads appended. */
export function documentOf(name) {
  const text = OPERATIONS[name];
  if (!text) throw new Error(`unknown operation ${name}`);
  const needed = new Set();
  const visit = (source) => {
    for (const m of source.matchAll(/\.\.\.\s*([A-Za-z_]\w*)/g)) {
      const frag = m[1];
      if (frag !== "on" && FRAGMENTS[frag] && !needed.has(frag)) {
        needed.add(frag);
        visit(FRAGMENTS[frag]);
      }
    }
  };
  visit(text);
  return [text, ...[...needed].map((f) => FRAGMENTS[f])].join("\n");
}

export function operationNames() {
  return Object.keys(OPERATIONS);
}

// ---------------------------------------------------------------- fragments

fragment("Errors", `
fragment Errors on UserError { code message field }
`);

fragment("Ent", `
fragment Ent on PackageEntitlement {
  featureId usageLimit isUnlimited isSoftLimit resetPeriod resetAnchor value enumValues
  isVariable behavior
}
`);

fragment("PriceFields", `
fragment PriceFields on Price {
  model billingPeriod amount currency featureId tierMode tiers { upTo unitAmount flatAmount }
}
`);

fragment("VersionFields", `
fragment VersionFields on PackageVersion {
  version isDraft name description publishedAt migrateExistingSubscriptions
  parentPlanId parentPlanVersion pricingType defaultTrial { days endBehavior }
  maxQuantity compatiblePlanIds
  entitlements { ...Ent }
  prices { ...PriceFields }
}
`);

fragment("PlanFields", `
fragment PlanFields on Plan {
  id name description productId version hasDraft isArchived parentPlanId parentPlanVersion
  pricingType defaultTrial { days endBehavior }
  entitlements { ...Ent }
  prices { ...PriceFields }
}
`);

fragment("AddonFields", `
fragment AddonFields on Addon {
  id name description productId version hasDraft isArchived maxQuantity compatiblePlanIds
  entitlements { ...Ent }
  prices { ...PriceFields }
}
`);

fragment("InvoiceFields", `
fragment InvoiceFields on Invoice {
  id status currency total issuedAt dueDate paidAt voidedAt paymentTermsDays periodStart
  periodEnd isOverdue pdfUrl paymentUrl
  billTo { customerId name email }
  lines { description quantity unitAmount amount kind featureId addonId }
}
`);

fragment("SubscriptionFields", `
fragment SubscriptionFields on CustomerSubscription {
  id customerId planId planVersion resourceId status billingPeriod startDate endDate
  trialEndDate currentPeriodStart currentPeriodEnd billingMode paymentTermsDays canceledAt
  addons { addonId quantity version }
  priceOverrides { addonId amount currency }
  entitlements { ...Ent }
  scheduledChange { planId planVersion effectiveAt }
  plan { id name pricingType }
}
`);

fragment("EntitlementFields", `
fragment EntitlementFields on Entitlement {
  featureId hasAccess denyReason isUnlimited isSoftLimit usageLimit currentUsage remaining
  value enumValues resetPeriod usagePeriodStart usagePeriodEnd featureType
  feature { id name type unit unitPlural }
  sources {
    kind subscriptionId planId addonId quantity usageLimit isUnlimited isSoftLimit value
    enumValues isTrial isEffective
  }
}
`);

// ---------------------------------------------------------------- catalog

op("Catalog", `
query Catalog {
  features(first: 100) {
    totalCount
    edges { node { id name description type unit unitPlural valueType enumValues
      meter { eventName aggregation field } isArchived } }
  }
  products(first: 100) {
    totalCount
    edges { node { id name description multipleSubscriptions defaultPlanId isArchived } }
  }
  plans(first: 100) {
    totalCount
    edges { node { ...PlanFields } }
  }
  addons(first: 100) {
    totalCount
    edges { node { ...AddonFields } }
  }
}
`);

op("PlanDetail", `
query PlanDetail($id: String!) {
  plan(id: $id) {
    ...PlanFields
    draft { ...VersionFields }
    versions { ...VersionFields }
  }
}
`);

op("CreatePlan", `
mutation CreatePlan($input: CreatePlanInput!) {
  createPlan(input: $input) { plan { ...PlanFields } errors { ...Errors } }
}
`);

op("UpdatePlan", `
mutation UpdatePlan($input: UpdatePlanInput!) {
  updatePlan(input: $input) { plan { ...PlanFields } errors { ...Errors } }
}
`);

op("PublishPlan", `
mutation PublishPlan($input: PublishInput!) {
  publishPlan(input: $input) { plan { ...PlanFields } errors { ...Errors } }
}
`);

op("DiscardPlanDraft", `
mutation DiscardPlanDraft($input: IdInput!) {
  discardPlanDraft(input: $input) { plan { ...PlanFields } errors { ...Errors } }
}
`);

op("AddonDetail", `
query AddonDetail($id: String!) {
  addon(id: $id) {
    ...AddonFields
    draft { ...VersionFields }
    versions { ...VersionFields }
  }
}
`);

op("UpdateAddon", `
mutation UpdateAddon($input: UpdateAddonInput!) {
  updateAddon(input: $input) { addon { ...AddonFields } errors { ...Errors } }
}
`);

op("PublishAddon", `
mutation PublishAddon($input: PublishInput!) {
  publishAddon(input: $input) { addon { ...AddonFields } errors { ...Errors } }
}
`);

op("DiscardAddonDraft", `
mutation DiscardAddonDraft($input: IdInput!) {
  discardAddonDraft(input: $input) { addon { ...AddonFields } errors { ...Errors } }
}
`);

op("ExportCatalog", `
query ExportCatalog { exportCatalog }
`);

op("ApplyCatalog", `
mutation ApplyCatalog($input: ApplyCatalogInput!) {
  applyCatalog(input: $input) { changes { kind entity id detail } errors { ...Errors } }
}
`);

// ---------------------------------------------------------------- features and products

fragment("FeatureFields", `
fragment FeatureFields on Feature {
  id name description type unit unitPlural valueType enumValues isArchived createdAt updatedAt
  meter { eventName aggregation field filters { dimension operator values } }
}
`);

fragment("ProductFields", `
fragment ProductFields on Product {
  id name description multipleSubscriptions defaultPlanId downgradeToDefaultPlan isArchived
  createdAt
}
`);

op("FeatureDetail", `
query FeatureDetail($id: String!) {
  feature(id: $id) { ...FeatureFields }
}
`);

op("CreateFeature", `
mutation CreateFeature($input: CreateFeatureInput!) {
  createFeature(input: $input) { feature { ...FeatureFields } errors { ...Errors } }
}
`);

op("UpdateFeature", `
mutation UpdateFeature($input: UpdateFeatureInput!) {
  updateFeature(input: $input) { feature { ...FeatureFields } errors { ...Errors } }
}
`);

op("ArchiveFeature", `
mutation ArchiveFeature($input: IdInput!) {
  archiveFeature(input: $input) { feature { ...FeatureFields } errors { ...Errors } }
}
`);

op("ProductDetail", `
query ProductDetail($id: String!) {
  product(id: $id) { ...ProductFields }
  plans(productId: $id, first: 100) { edges { node { id name version isArchived } } }
  addons(productId: $id, first: 100) { totalCount }
}
`);

op("CreateProduct", `
mutation CreateProduct($input: CreateProductInput!) {
  createProduct(input: $input) { product { ...ProductFields } errors { ...Errors } }
}
`);

op("UpdateProduct", `
mutation UpdateProduct($input: UpdateProductInput!) {
  updateProduct(input: $input) { product { ...ProductFields } errors { ...Errors } }
}
`);

op("ArchiveProduct", `
mutation ArchiveProduct($input: IdInput!) {
  archiveProduct(input: $input) { product { ...ProductFields } errors { ...Errors } }
}
`);

// ---------------------------------------------------------------- customers

op("SearchCustomers", `
query SearchCustomers($search: String, $first: Int, $after: String) {
  customers(search: $search, first: $first, after: $after) {
    totalCount
    pageInfo { hasNextPage endCursor }
    edges { node { id name email createdAt isArchived
      subscriptions { id planId status } } }
  }
}
`);

op("CustomerDetail", `
query CustomerDetail($id: String!) {
  customer(id: $id) {
    id name email metadata isArchived createdAt
    billingDetails { legalName address taxId }
    subscriptions { ...SubscriptionFields }
    promotionalEntitlements {
      featureId duration startsAt endsAt
      entitlement { ...Ent }
    }
    entitlements { ...EntitlementFields }
    invoices { ...InvoiceFields }
  }
}
`);

op("UsageHistory", `
query UsageHistory($customerId: String!, $featureId: String!, $from: DateTime!) {
  usageHistory(customerId: $customerId, featureId: $featureId, from: $from) {
    periodStart periodEnd usage
  }
}
`);

op("GrantPromotion", `
mutation GrantPromotion($input: GrantPromotionalEntitlementsInput!) {
  grantPromotionalEntitlements(input: $input) {
    promotionalEntitlements { featureId endsAt }
    errors { ...Errors }
  }
}
`);

op("CancelSubscription", `
mutation CancelSubscription($input: CancelSubscriptionInput!) {
  cancelSubscription(input: $input) { subscription { ...SubscriptionFields } errors { ...Errors } }
}
`);

// ---------------------------------------------------------------- provisioning

op("ProvisionOptions", `
query ProvisionOptions {
  plans(first: 100) { edges { node { ...PlanFields } } }
  addons(first: 100) { edges { node { ...AddonFields } } }
  features(first: 100) { edges { node { id name type unit unitPlural valueType enumValues } } }
}
`);

op("ProvisionCustomer", `
mutation ProvisionCustomer($input: ProvisionCustomerInput!) {
  provisionCustomer(input: $input) {
    customer { id }
    errors { ...Errors }
  }
}
`);

op("PreviewSubscription", `
mutation PreviewSubscription($input: ProvisionSubscriptionInput!) {
  previewSubscription(input: $input) {
    lines { description quantity unitAmount amount kind featureId addonId }
    total currency periodStart periodEnd
    errors { ...Errors }
  }
}
`);

op("ProvisionSubscription", `
mutation ProvisionSubscription($input: ProvisionSubscriptionInput!) {
  provisionSubscription(input: $input) {
    subscription { ...SubscriptionFields invoices { id status total currency } }
    errors { ...Errors }
  }
}
`);

// ---------------------------------------------------------------- invoices

op("Invoices", `
query Invoices($status: InvoiceStatus, $customerId: String, $first: Int, $after: String) {
  invoices(status: $status, customerId: $customerId, first: $first, after: $after) {
    totalCount
    pageInfo { hasNextPage endCursor }
    edges { node { ...InvoiceFields } }
  }
}
`);

op("MarkInvoicePaid", `
mutation MarkInvoicePaid($input: MarkInvoicePaidInput!) {
  markInvoicePaid(input: $input) { invoice { ...InvoiceFields } errors { ...Errors } }
}
`);

op("VoidInvoice", `
mutation VoidInvoice($input: VoidInvoiceInput!) {
  voidInvoice(input: $input) { invoice { ...InvoiceFields } errors { ...Errors } }
}
`);

// ---------------------------------------------------------------- insights

// The insights page asks in two parts: the counts (fast) and the limit utilization (reads
// every customer's usage: up to seconds at 100,000 customers when not reused), so the first
// part shows without waiting for the second.
op("Insights", `
query Insights($withinDays: Int, $from: DateTime, $to: DateTime) {
  insights {
    customersPerPlan { plan { id name } customers }
    customersPerStatus { status customers }
    trialsEndingSoon(withinDays: $withinDays, first: 20) {
      id customerId planId trialEndDate status
    }
    revenueByPlan(from: $from, to: $to) { plan { id name } currency amount invoices }
  }
  features(first: 100) { edges { node { id name type } } }
}
`);

op("LimitUtilization", `
query LimitUtilization {
  insights {
    limitUtilization {
      feature { id name }
      customersWithLimit atLeast80Percent atLeast100Percent
    }
  }
}
`);

op("UsageDistribution", `
query UsageDistribution($featureId: String!, $buckets: Int) {
  insights { usageDistribution(featureId: $featureId, buckets: $buckets) { from to customers } }
}
`);

// ---------------------------------------------------------------- audit log

op("AuditLog", `
query AuditLog($first: Int, $after: String, $entityType: String, $entityId: String,
               $operation: String, $action: String, $since: DateTime, $until: DateTime) {
  auditLog(first: $first, after: $after, entityType: $entityType, entityId: $entityId,
           operation: $operation, action: $action, since: $since, until: $until) {
    totalCount
    pageInfo { hasNextPage endCursor }
    edges { node {
      id occurredAt actorKeyId actorKind operation requestId entityType entityId action
      before after
      actorUser { id email name }
    } }
  }
}
`);

// ---------------------------------------------------------------- webhooks

op("Webhooks", `
query Webhooks($endpointId: String, $status: WebhookDeliveryStatus) {
  webhookEndpoints(first: 100) {
    edges { node { id url description eventTypes enabled createdAt } }
  }
  webhookEventTypes { name description }
  webhookDeliveries(endpointId: $endpointId, status: $status, first: 50) {
    totalCount
    edges { node {
      id endpointId eventId eventType status attemptCount replayCount nextAttemptAt
      lastAttemptAt createdAt
      attempts { number attemptedAt succeeded statusCode error durationMs }
    } }
  }
}
`);

op("CreateWebhookEndpoint", `
mutation CreateWebhookEndpoint($input: CreateWebhookEndpointInput!) {
  createWebhookEndpoint(input: $input) { endpoint { id url } secret errors { ...Errors } }
}
`);

op("UpdateWebhookEndpoint", `
mutation UpdateWebhookEndpoint($input: UpdateWebhookEndpointInput!) {
  updateWebhookEndpoint(input: $input) { endpoint { id enabled } errors { ...Errors } }
}
`);

op("ReplayWebhookDelivery", `
mutation ReplayWebhookDelivery($input: ReplayWebhookDeliveryInput!) {
  replayWebhookDelivery(input: $input) { delivery { id status replayCount } errors { ...Errors } }
}
`);

// ---------------------------------------------------------------- admins: keys and users

op("ApiKeys", `
query ApiKeys { apiKeys { id kind name prefix createdAt revokedAt } }
`);

op("CreateApiKey", `
mutation CreateApiKey($input: CreateApiKeyInput!) {
  createApiKey(input: $input) { apiKey { id name prefix kind } secret errors { ...Errors } }
}
`);

op("RevokeApiKey", `
mutation RevokeApiKey($input: RevokeApiKeyInput!) {
  revokeApiKey(input: $input) { apiKey { id revokedAt } errors { ...Errors } }
}
`);

op("Users", `
query Users { users { id email name role disabledAt createdAt lastLoginAt } }
`);

op("InviteUser", `
mutation InviteUser($input: InviteUserInput!) {
  inviteUser(input: $input) { token link errors { ...Errors } }
}
`);

op("DisableUser", `
mutation DisableUser($input: DisableUserInput!) {
  disableUser(input: $input) { user { id disabledAt } errors { ...Errors } }
}
`);

op("ChangeUserRole", `
mutation ChangeUserRole($input: ChangeUserRoleInput!) {
  changeUserRole(input: $input) { user { id role } errors { ...Errors } }
}
`);
