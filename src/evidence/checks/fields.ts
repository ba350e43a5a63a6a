import { finding, type Finding } from '../findings.js';
import type { Check } from './check.js';

/** The fields the profiles require of every run, and the values they accept. */
export const checkRequiredFields: Check = ({ evidence, profiles, keys }) => {
  const findings: Finding[] = [];
  for (const [field, profile] of profiles.requiredFields) {
    if (evidence[field] === undefined) {
      findings.push(finding('missing_field', `${field} is missing (looked for ${keys[field].join(', ')})`, { field, profile }));
    }
  }
  for (const { field, accepted, profile } of profiles.fieldValues) {
    const value = evidence[field];
    if (value !== undefined && !accepted.includes(value)) {
      findings.push(finding('invalid_field', `${field} is "${value}", expected ${accepted.join(' or ')}`, { field, profile }));
    }
  }
  return findings;
};

/** Fields about an action (grant.expires_at) are required only once something acted. */
export const checkActedFields: Check = ({ evidence, profiles, keys, changes }) => {
  if (!changes.finals.some((f) => !f.failed)) return [];
  const findings: Finding[] = [];
  for (const [field, profile] of profiles.actedFields) {
    if (evidence[field] === undefined && !profiles.requiredFields.has(field)) {
      findings.push(
        finding('missing_field', `${field} is missing although a change succeeded (looked for ${keys[field].join(', ')})`, {
          field,
          profile,
          rule: 'required_fields_if_acted',
        }),
      );
    }
  }
  return findings;
};
