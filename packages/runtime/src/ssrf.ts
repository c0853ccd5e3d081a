// Placeholder until the SSRF guard lands; see the inference service work.
export {};
