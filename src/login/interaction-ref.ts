import type { GatewayContext } from '../context.js';
import { saveInteraction, type Interaction } from '../interaction/interaction.js';
import { randomToken } from '../tokens/secrets.js';

const REF = /^[A-Za-z0-9_-]{43}$/;

/**
 * The opaque id the bank's login app (or identity provider, as `state`) knows an interaction by:
 * random, not the request_uri the client holds, and gone with the interaction (same lifetime).
 */
export async function interactionRef(ctx: GatewayContext, interaction: Interaction): Promise<{ ref: string; interaction: Interaction }> {
  if (interaction.ref) return { ref: interaction.ref, interaction };
  const ref = randomToken();
  const updated = { ...interaction, ref };
  await Promise.all([ctx.store.set('interaction-ref', ref, interaction.parId, ctx.profile.lifetimes.interaction), saveInteraction(ctx, updated)]);
  return { ref, interaction: updated };
}

/** The pushed request's id an interaction ref stands for, when it is well-formed and live. */
export async function parIdOf(ctx: GatewayContext, ref: string): Promise<string | undefined> {
  if (!REF.test(ref)) return undefined;
  return ctx.store.get<string>('interaction-ref', ref);
}

/** Saves an interaction and keeps its ref alive as long. */
export async function saveWithRef(ctx: GatewayContext, interaction: Interaction): Promise<void> {
  const ttl = ctx.profile.lifetimes.interaction;
  await Promise.all([saveInteraction(ctx, interaction), interaction.ref ? ctx.store.set('interaction-ref', interaction.ref, interaction.parId, ttl) : undefined]);
}
