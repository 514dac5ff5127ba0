import { definePolicy, anyone, type Rule } from '../policy.js';

/** A skill as the skills policy sees it: its name is all a key's restriction speaks of. */
export interface SkillRef {
  name: string;
}

/**
 * A key restricted to some skills reaches only those, through every edge: the tool layer narrows its library view
 * (`restrictLibrary`), and the REST API answers for any other skill as for a missing one. Asked without a skill
 * (a route's guard), the answer is yes: the service decides per skill.
 */
const withinRestriction: Rule<SkillRef> = (actor, skill) =>
  !actor.restriction?.skills || skill === undefined || actor.restriction.skills.includes(skill.name);

/** Visibility between users (own, shared, hidden) is the service's `visibleTo()`; this is per credential. */
export const skillsPolicy = definePolicy({
  scope: 'api',
  rules: {
    list: anyone,
    read: withinRestriction,
    create: withinRestriction,
    manage: withinRestriction,
    share: (actor) => actor.isAdmin,
  },
  denied: {
    create: 'This key is restricted to some skills: it cannot create others',
    share: 'Only administrators can share skills',
  },
});
