-- Cost a settle could not burn without taking the available balance below zero (a hold that
-- expired before its request settled, or a cost far above the hold). The platform absorbs it.
ALTER TABLE "requests" ADD COLUMN "written_off" BIGINT NOT NULL DEFAULT 0;
