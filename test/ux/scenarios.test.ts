// Using homecrypt by hand (issue 16): interruptions that end with the recovery
// key shown and an honest status, destructive steps that ask first, mistakes
// that give one line, their documented exit code and change nothing.
// Scenarios in scenarios/t_*.sh with expected output t_*.out (test/helpers/scenarios.ts).
import { describeScenarios } from '../helpers/scenarios.js';

describeScenarios('hand-use scenarios', new URL('./scenarios/', import.meta.url), 600_000);
