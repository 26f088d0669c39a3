/** Where `npm run replicas` runs its two replicas. Both carry A's issuer and mTLS URL, as replicas behind one load balancer name. */
export const REPLICAS = {
  A: { public: 8443, mtls: 8444, ops: 9090 },
  B: { public: 8453, mtls: 8454, ops: 9091 },
} as const;
