// The Flex Consumption plan and the function app (Python 3.11, Linux), running as the
// user-assigned identity for storage, Key Vault references and telemetry.

param location string
param name string
param identityId string
param identityClientId string
param storageAccountName string
param storageBlobEndpoint string
param deploymentContainerName string
param keyVaultName string
param apiKeysSecretName string
param appInsightsConnectionString string
param enrollmentContainerName string
@allowed([512, 2048, 4096])
param instanceMemoryMB int
@minValue(1)
@maxValue(1000)
param maximumInstanceCount int
@minValue(0)
param alwaysReadyHttpInstances int
param tags object

// The settings the code reads (shared/settings.py SETTINGS) plus the host's telemetry settings.
// tests/test_infra.py parses this block: keep one `NAME: value` per line.
// Flex sets the runtime in functionAppConfig, so FUNCTIONS_WORKER_RUNTIME and
// FUNCTIONS_EXTENSION_VERSION must not be app settings.
var appSettings = {
  AzureWebJobsStorage__accountName: storageAccountName
  AzureWebJobsStorage__credential: 'managedidentity'
  AzureWebJobsStorage__clientId: identityClientId
  APPLICATIONINSIGHTS_CONNECTION_STRING: appInsightsConnectionString
  APPLICATIONINSIGHTS_AUTHENTICATION_STRING: 'ClientId=${identityClientId};Authorization=AAD'
  FACE_API_KEYS: '@Microsoft.KeyVault(VaultName=${keyVaultName};SecretName=${apiKeysSecretName})'
  FACE_ENROLLMENT_CONTAINER: enrollmentContainerName
}

resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
  //checkov:skip=CKV_AZURE_225:Flex zone redundancy exists only in some regions and needs zone-redundant storage; enable it per region for production.
  name: 'plan-${name}'
  location: location
  tags: tags
  kind: 'functionapp'
  sku: {
    tier: 'FlexConsumption'
    name: 'FC1'
  }
  properties: {
    reserved: true // Linux
  }
}

resource site 'Microsoft.Web/sites@2024-04-01' = {
  //checkov:skip=CKV_AZURE_17:Clients authenticate with the Face API's Ocp-Apim-Subscription-Key header, not client certificates.
  //checkov:skip=CKV_AZURE_222:The Face API is a public HTTPS endpoint by design (API keys guard it); use Private Endpoints + VNet integration to make it private.
  //checkov:skip=CKV_AZURE_212:Flex Consumption scales to zero by design; warm instances are the alwaysReadyHttpInstances parameter.
  //checkov:skip=CKV_AZURE_213:GET /face/v1.0/health needs an API key, which the platform's health probe cannot send; a scale-to-zero app has no fixed instance pool to probe.
  //checkov:skip=CKV_AZURE_56:Clients send Face API keys (Ocp-Apim-Subscription-Key), checked by the app; Entra sign-in (EasyAuth) would break Face SDK clients.
  name: name
  location: location
  tags: tags
  kind: 'functionapp,linux'
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: { '${identityId}': {} }
  }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    keyVaultReferenceIdentity: identityId
    siteConfig: {
      minTlsVersion: '1.2'
      ftpsState: 'Disabled'
      http20Enabled: true
      appSettings: [for setting in items(appSettings): { name: setting.key, value: setting.value }]
    }
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: '${storageBlobEndpoint}${deploymentContainerName}'
          authentication: {
            type: 'UserAssignedIdentity'
            userAssignedIdentityResourceId: identityId
          }
        }
      }
      scaleAndConcurrency: {
        instanceMemoryMB: instanceMemoryMB
        maximumInstanceCount: maximumInstanceCount
        alwaysReady: alwaysReadyHttpInstances > 0 ? [{ name: 'http', instanceCount: alwaysReadyHttpInstances }] : []
      }
      runtime: {
        name: 'python'
        version: '3.11'
      }
    }
  }
}

// Publishing uses Entra ID (az CLI); no FTP or basic-auth deployment credentials.
resource basicAuth 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-04-01' = [
  for policy in ['ftp', 'scm']: {
    parent: site
    name: policy
    properties: { allow: false }
  }
]

output name string = site.name
output hostName string = site.properties.defaultHostName
