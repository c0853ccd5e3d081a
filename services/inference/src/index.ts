export { startInference, type InferenceHandle, type InferenceOptions } from './app.js';
export { inferenceEnvSchema, loadEnv, type InferenceEnv } from './env.js';
