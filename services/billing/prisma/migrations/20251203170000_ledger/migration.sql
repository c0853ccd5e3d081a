-- CreateSchema
CREATE SCHEMA IF NOT EXISTS "public";

-- CreateEnum
CREATE TYPE "entry_kind" AS ENUM ('mint', 'send', 'burn', 'hold', 'release', 'tally');

-- CreateEnum
CREATE TYPE "request_status" AS ENUM ('held', 'unmetered', 'denied', 'settled', 'voided', 'expired');

-- CreateEnum
CREATE TYPE "capability" AS ENUM ('overspend', 'admin', 'mint', 'send');

-- CreateEnum
CREATE TYPE "capability_action" AS ENUM ('grant', 'revoke');

-- CreateTable
CREATE TABLE "accounts" (
    "user_id" TEXT NOT NULL,
    "currency" TEXT NOT NULL,
    "balance" BIGINT NOT NULL DEFAULT 0,
    "held" BIGINT NOT NULL DEFAULT 0,
    "created_at" TIMESTAMPTZ(3) NOT NULL,
    "updated_at" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "accounts_pkey" PRIMARY KEY ("user_id","currency")
);

-- CreateTable
CREATE TABLE "entries" (
    "id" TEXT NOT NULL,
    "seq" BIGSERIAL NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL,
    "kind" "entry_kind" NOT NULL,
    "user_id" TEXT NOT NULL,
    "counterparty_id" TEXT,
    "currency" TEXT NOT NULL,
    "amount" BIGINT NOT NULL,
    "reason" TEXT NOT NULL,
    "cause_id" TEXT,
    "model_id" TEXT,
    "usage" JSONB,
    "pricing_version" TEXT,

    CONSTRAINT "entries_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "pricing_versions" (
    "version" TEXT NOT NULL,
    "prices" JSONB NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "pricing_versions_pkey" PRIMARY KEY ("version")
);

-- CreateTable
CREATE TABLE "requests" (
    "request_id" TEXT NOT NULL,
    "user_id" TEXT NOT NULL,
    "model_id" TEXT NOT NULL,
    "route_class" TEXT NOT NULL,
    "prompt_tokens" INTEGER NOT NULL,
    "requested_output_tokens" INTEGER,
    "decision" TEXT NOT NULL,
    "reason" TEXT NOT NULL,
    "currency" TEXT,
    "hold_amount" BIGINT NOT NULL DEFAULT 0,
    "max_output_tokens" INTEGER,
    "output_clamped" BOOLEAN NOT NULL DEFAULT false,
    "affordable_output_tokens" INTEGER,
    "pricing_version" TEXT,
    "status" "request_status" NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL,
    "finished_at" TIMESTAMPTZ(3),
    "settle_status" TEXT,
    "usage_estimated" BOOLEAN,
    "input_tokens" INTEGER,
    "output_tokens" INTEGER,
    "cache_read_tokens" INTEGER,
    "cache_write_tokens" INTEGER,
    "cache_write_1h_tokens" INTEGER,
    "reasoning_tokens" INTEGER,
    "cost" BIGINT,
    "overshoot" BIGINT NOT NULL DEFAULT 0,
    "void_reason" TEXT,

    CONSTRAINT "requests_pkey" PRIMARY KEY ("request_id")
);

-- CreateTable
CREATE TABLE "capability_events" (
    "seq" BIGSERIAL NOT NULL,
    "user_id" TEXT NOT NULL,
    "capability" "capability" NOT NULL,
    "action" "capability_action" NOT NULL,
    "expires_at" TIMESTAMPTZ(3),
    "created_at" TIMESTAMPTZ(3) NOT NULL,
    "actor_id" TEXT,

    CONSTRAINT "capability_events_pkey" PRIMARY KEY ("seq")
);

-- CreateIndex
CREATE INDEX "entries_user_id_seq_idx" ON "entries"("user_id", "seq");

-- CreateIndex
CREATE INDEX "requests_user_id_created_at_idx" ON "requests"("user_id", "created_at");

-- CreateIndex
CREATE INDEX "capability_events_user_id_capability_seq_idx" ON "capability_events"("user_id", "capability", "seq");


-- Written by hand (Prisma cannot express these).
-- The sweeper looks only at open holds: a partial index keeps that scan small however long the
-- request history grows.
CREATE INDEX "requests_open_holds_idx" ON "requests"("created_at") WHERE "status" = 'held';

-- Holds are released at most once, so the held amount can never go negative. If it ever would,
-- the statement fails instead of the ledger drifting.
ALTER TABLE "accounts" ADD CONSTRAINT "accounts_held_nonnegative" CHECK ("held" >= 0);
