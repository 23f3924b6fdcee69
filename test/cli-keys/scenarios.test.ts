// Key-store scenarios (scenarios/t_*.sh against t_*.out); the mechanism is
// test/helpers/scenarios.ts, shared with test/ux/scenarios.
import { describeScenarios } from '../helpers/scenarios.js';

describeScenarios('CLI scenarios', new URL('./scenarios/', import.meta.url));
