/**
 * Downward-API environment variables → resource attributes describing the pod runledger runs in.
 * Semantic conventions have no service account attribute, so that one is under runledger's `nhi.*`.
 */
export const POD_IDENTITY_ENV: Readonly<Record<string, string>> = Object.freeze({
  K8S_POD_NAME: 'k8s.pod.name',
  K8S_POD_UID: 'k8s.pod.uid',
  K8S_NAMESPACE: 'k8s.namespace.name',
  K8S_NODE_NAME: 'k8s.node.name',
  K8S_SERVICE_ACCOUNT: 'nhi.k8s.service_account.name',
});

/** The pod's identity attributes; variables that are unset or blank are left out. Values are trimmed. */
export function podIdentityAttributes(env: Readonly<Record<string, string | undefined>>): Record<string, string> {
  const attributes: Record<string, string> = {};
  for (const [name, key] of Object.entries(POD_IDENTITY_ENV)) {
    const value = env[name]?.trim();
    if (value !== undefined && value !== '') attributes[key] = value;
  }
  return attributes;
}
