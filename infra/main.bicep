// Face API service on Azure Functions Flex Consumption: everything except the Event Grid
// subscription for blob enrollment, which needs the app's code deployed first (eventgrid.bicep,
// run by deploy.sh after publishing). Deploy to a resource group: see infra/README.md.

targetScope = 'resourceGroup'

@description('Short lowercase prefix for resource names (letters and digits).')
@minLength(2)
@maxLength(8)
param namePrefix string = 'face'

param location string = resourceGroup().location

@description('Memory per instance in MB (512, 2048 or 4096); CPU scales with it and so does the price per second.')
@allowed([512, 2048, 4096])
param instanceMemoryMB int = 2048

@description('Upper bound on instances the app scales out to: the cap on cost and on storage load.')
@minValue(1)
@maxValue(1000)
param maximumInstanceCount int = 40

@description('Instances kept warm for the HTTP functions (billed while idle); 0 = scale to zero with cold starts.')
@minValue(0)
param alwaysReadyHttpInstances int = 0

@description('Storage redundancy: Standard_LRS for dev, Standard_ZRS or Standard_GZRS for production.')
@allowed(['Standard_LRS', 'Standard_ZRS', 'Standard_GRS', 'Standard_GZRS'])
param storageSku string = 'Standard_ZRS'

@description('Blob container watched for batch enrollment (FACE_ENROLLMENT_CONTAINER).')
param enrollmentContainerName string = 'enrollment'

@description('Days Log Analytics keeps logs.')
@minValue(30)
param logRetentionInDays int = 30

@description('Days a deleted Key Vault stays recoverable (purge protection is on, so its name is reserved that long).')
@minValue(7)
@maxValue(90)
param keyVaultSoftDeleteRetentionInDays int = 90

@description('Object id of the principal that writes the API key secret (deploy.sh passes the signed-in one); empty for none.')
param deployerPrincipalId string = ''

@allowed(['User', 'ServicePrincipal', 'Group'])
param deployerPrincipalType string = 'User'

param tags object = {}

var token = uniqueString(resourceGroup().id, namePrefix)
var appName = 'func-${namePrefix}-${token}'
var apiKeysSecretName = 'face-api-keys'
var deploymentContainerName = 'app-package'
var deadLetterContainerName = 'eventgrid-deadletter'

resource identity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: 'id-${namePrefix}-${token}'
  location: location
  tags: tags
}

module storage 'modules/storage.bicep' = {
  name: 'storage'
  params: {
    location: location
    name: take('st${namePrefix}${token}', 24)
    appPrincipalId: identity.properties.principalId
    skuName: storageSku
    enrollmentContainerName: enrollmentContainerName
    deploymentContainerName: deploymentContainerName
    deadLetterContainerName: deadLetterContainerName
    tags: tags
  }
}

module monitoring 'modules/monitoring.bicep' = {
  name: 'monitoring'
  params: {
    location: location
    workspaceName: 'log-${namePrefix}-${token}'
    appInsightsName: 'appi-${namePrefix}-${token}'
    retentionInDays: logRetentionInDays
    appPrincipalId: identity.properties.principalId
    tags: tags
  }
}

module keyVault 'modules/keyvault.bicep' = {
  name: 'keyvault'
  params: {
    location: location
    name: take('kv-${namePrefix}-${token}', 24)
    softDeleteRetentionInDays: keyVaultSoftDeleteRetentionInDays
    appPrincipalId: identity.properties.principalId
    secretsOfficerPrincipalId: deployerPrincipalId
    secretsOfficerPrincipalType: deployerPrincipalType
    tags: tags
  }
}

module functionApp 'modules/functionapp.bicep' = {
  name: 'functionapp'
  params: {
    location: location
    name: appName
    identityId: identity.id
    identityClientId: identity.properties.clientId
    storageAccountName: storage.outputs.name
    storageBlobEndpoint: storage.outputs.blobEndpoint
    deploymentContainerName: deploymentContainerName
    keyVaultName: keyVault.outputs.name
    apiKeysSecretName: apiKeysSecretName
    appInsightsConnectionString: monitoring.outputs.connectionString
    enrollmentContainerName: enrollmentContainerName
    instanceMemoryMB: instanceMemoryMB
    maximumInstanceCount: maximumInstanceCount
    alwaysReadyHttpInstances: alwaysReadyHttpInstances
    tags: tags
  }
}

// deploy.sh reads these; eventgrid.bicep takes the ones it needs as parameters.
output functionAppName string = functionApp.outputs.name
output endpoint string = 'https://${functionApp.outputs.hostName}/face/v1.0'
output storageAccountName string = storage.outputs.name
output keyVaultName string = keyVault.outputs.name
output apiKeysSecretName string = apiKeysSecretName
output enrollmentContainerName string = enrollmentContainerName
output deadLetterContainerName string = deadLetterContainerName
