import { describe, expect, it } from 'vitest';
import { podIdentityAttributes } from './pod-identity.js';

describe('podIdentityAttributes', () => {
  it('maps each downward-API variable to its resource attribute', () => {
    expect(
      podIdentityAttributes({
        K8S_POD_NAME: 'runledger-0',
        K8S_POD_UID: '6f1d2c3b-0a9e-4c55-9a1e-2b7f0c1d3e4f',
        K8S_NAMESPACE: 'observability',
        K8S_NODE_NAME: 'node-a1',
        K8S_SERVICE_ACCOUNT: 'runledger',
        PATH: '/usr/bin',
      }),
    ).toEqual({
      'k8s.pod.name': 'runledger-0',
      'k8s.pod.uid': '6f1d2c3b-0a9e-4c55-9a1e-2b7f0c1d3e4f',
      'k8s.namespace.name': 'observability',
      'k8s.node.name': 'node-a1',
      'nhi.k8s.service_account.name': 'runledger',
    });
  });

  it('includes only variables that are set and not blank', () => {
    expect(podIdentityAttributes({ K8S_POD_NAME: ' runledger-0 ', K8S_NAMESPACE: '', K8S_NODE_NAME: '  ', K8S_POD_UID: undefined })).toEqual({
      'k8s.pod.name': 'runledger-0',
    });
    expect(podIdentityAttributes({})).toEqual({});
  });
});
