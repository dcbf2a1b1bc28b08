// Certificate expiry as `status` and the checks judge it (ops/certificates.ts).
import { expiryVerdict, EXPIRY_WARNING_DAYS, tlsSummaryLine } from "../../ops/certificates";

const NOW = new Date("2026-12-07T06:00:00Z");
const days = (n: number) => new Date(NOW.getTime() + n * 86_400_000);

describe("certificate expiry", () => {
    test("fine while more than 7 days remain; from 7 days before, a failure naming the node, the date and the next command", () => {
        expect(EXPIRY_WARNING_DAYS).toBe(7);
        expect(expiryVerdict("pg1", days(8), NOW, "npm run live -- up --stack s")).toBe(true);
        expect(expiryVerdict("pg1", days(7.5), NOW, "npm run live -- up --stack s")).toBe(true);
        expect(expiryVerdict("pg2", days(6.5), NOW, "npm run live -- up --stack s")).toBe(
            "the TLS certificate of pg2 expires on 2026-12-13T18:00:00.000Z (in 6 days); re-issue the stack's certificates: npm run live -- up --stack s",
        );
        expect(expiryVerdict("pg3", days(-1), NOW, "npm run up")).toBe(
            "the TLS certificate of pg3 expired on 2026-12-06T06:00:00.000Z; re-issue the stack's certificates: npm run up",
        );
    });

    test("the status line names the earliest end", () => {
        expect(
            tlsSummaryLine([
                { node: "pg1", notAfter: days(400) },
                { node: "pg2", notAfter: days(300) },
            ]),
        ).toBe("tls: required (TLS 1.3); certificates valid until 2027-10-03 (earliest: pg2)");
        expect(tlsSummaryLine([])).toBe("tls: required (TLS 1.3); no node's certificate could be read");
    });
});
