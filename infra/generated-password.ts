import * as command from "@pulumi/command";
import * as pulumi from "@pulumi/pulumi";

/** A generated password: made once by a command, then kept in state as a secret. */
export function generatedPassword(name: string, parent: pulumi.Resource): pulumi.Output<string> {
    const gen = new command.local.Command(
        name,
        {
            create: `node -e "process.stdout.write(require('crypto').randomBytes(24).toString('base64url'))"`,
            logging: "none",
        },
        { parent, additionalSecretOutputs: ["stdout"] },
    );
    return pulumi.secret(gen.stdout);
}
