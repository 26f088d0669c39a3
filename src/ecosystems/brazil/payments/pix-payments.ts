import { randomUUID } from 'node:crypto';
import type { Store } from '../../../store/store.js';
import { ofbTime } from './ofb-error.js';
import type { PaymentConsent } from './payment-consents.js';
import type { PaymentInstruction } from './payment-request.js';

/** A PIX payment initiated from a consent. RCVD: received by the bank; its payment system takes it from there. */
export interface PixPayment {
  paymentId: string;
  clientId: string;
  organisationId: string;
  status: 'RCVD';
  createdAt: number;
  instruction: PaymentInstruction;
  debtorAccount?: Record<string, unknown>;
}

/** The pack's own ids in the shared 'ecosystem' records. */
const key = (paymentId: string) => `brazil-pix-payment\u0000${paymentId}`;
/** Payments stay readable this long (GET by the TPP). */
const KEEP_SECONDS = 30 * 86_400;

/** The payments received, in the Store. */
export class PixPayments {
  constructor(private readonly store: Store) {}

  async record(consent: PaymentConsent, instruction: PaymentInstruction): Promise<PixPayment> {
    const debtorAccount = consent.debtorAccount ?? (consent.request.debtorAccount as Record<string, unknown> | undefined);
    const payment: PixPayment = {
      paymentId: randomUUID(),
      clientId: consent.clientId,
      organisationId: consent.organisationId,
      status: 'RCVD',
      createdAt: Date.now(),
      instruction,
      ...(debtorAccount ? { debtorAccount } : {}),
    };
    await this.store.set('ecosystem', key(payment.paymentId), payment, KEEP_SECONDS);
    return payment;
  }

  get(paymentId: string): Promise<PixPayment | undefined> {
    if (paymentId.length > 100) return Promise.resolve(undefined);
    return this.store.get<PixPayment>('ecosystem', key(paymentId));
  }
}

/** The payment as the API shows it (Payments v4 `ResponsePixPaymentData`). */
export function paymentData(payment: PixPayment): Record<string, unknown> {
  const { instruction } = payment;
  return {
    paymentId: payment.paymentId,
    endToEndId: instruction.endToEndId,
    consentId: instruction.consentId,
    creationDateTime: ofbTime(payment.createdAt),
    statusUpdateDateTime: ofbTime(payment.createdAt),
    status: payment.status,
    localInstrument: instruction.localInstrument,
    cnpjInitiator: instruction.cnpjInitiator,
    payment: instruction.payment,
    creditorAccount: instruction.creditorAccount,
    ...(payment.debtorAccount ? { debtorAccount: payment.debtorAccount } : {}),
    ...instruction.extra,
  };
}
